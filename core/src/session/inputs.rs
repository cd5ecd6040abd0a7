//! What a session works on: its data set and its supernet (built from a search space,
//! from a space defined in the program, or loaded from a file).

use super::*;

impl Session {
    /// Loads a data set (replacing the current one); it becomes the `data` setting.
    pub fn data(&mut self, spec: DataSpec) -> Result<DataInfo> {
        let mut c = self.config.clone();
        c.set("data", &spec.text()?)?;
        c.data.train_limit = spec.train_limit;
        c.data.test_limit = spec.test_limit;
        let tt = self.read_data(&c)?;
        self.config = c;
        self.data = Some(tt);
        self.data_info()
    }

    /// Uses `data` (a set made in a notebook, or loaded once for many runs) as the data set,
    /// called `name` in reports; the `data` setting no longer describes it.
    pub fn set_data(&mut self, name: &str, data: TrainTest) -> Result<DataInfo> {
        self.data = Some((name.to_string(), data));
        self.data_info()
    }

    /// Loads the data set that the configuration names (`data`, `train-limit`,
    /// `test-limit`; `seed` draws a synthetic one).
    pub fn load_data(&mut self) -> Result<DataInfo> {
        let c = self.config.clone();
        self.data = Some(self.read_data(&c)?);
        self.data_info()
    }

    fn read_data(&mut self, c: &Config) -> Result<(String, TrainTest)> {
        let source = DataSource::parse(&c.data.data).map_err(|e| Error::config("data", e))?;
        let mut hook = self.progress.take();
        let mut listed = |files| {
            if let Some(h) = hook.as_mut() {
                h(Progress::Listing { files })
            }
        };
        let tt = source.load(&c.load_options()?, &mut listed);
        self.progress = hook;
        Ok((source.describe(), tt?))
    }

    /// The data set in use.
    pub fn data_info(&self) -> Result<DataInfo> {
        let tt = self.train_test()?;
        let desc = self.data.as_ref().map(|(d, _)| d.clone()).unwrap_or_default();
        let (c, h, w) = tt.train.image_shape();
        Ok(DataInfo {
            data: desc,
            train: tt.train.len(),
            test: tt.test.len(),
            image: [c, h, w],
            classes: tt.train.classes(),
            resized_on_read: h == w && tt.train.at_size(h).is_some(),
        })
    }

    /// Builds a network from a search space with `name=value` parameters; `resolution`,
    /// `channels` and `classes` default to the data set's when one is loaded.
    pub fn build_space(&mut self, space: &str, params: &[String]) -> Result<(Plugin, BTreeMap<String, String>, Graph)> {
        let plugin = self.find_space(space)?;
        let data = self.data.as_ref().map(|(_, d)| &d.train);
        let (p, g) = build_with(&plugin, params, data)?;
        Ok((plugin, p, g))
    }

    /// Builds the supernet from a search space defined in this program (a notebook, a
    /// plugin under development) rather than a plugin file.
    pub fn build_supernet_from(&mut self, space: &dyn SearchSpace, params: &[&str]) -> Result<SupernetInfo> {
        let params: Vec<String> = params.iter().map(|p| p.to_string()).collect();
        let data = self.data.as_ref().map(|(_, d)| &d.train);
        let (_, g) = build_with(space, &params, data)?;
        self.set_supernet(g);
        self.space = None;
        self.supernet_info()
    }

    /// Builds the supernet from a search space (dropping any search on the old one).
    pub fn build_supernet(&mut self, space: &str, params: &[&str]) -> Result<SupernetInfo> {
        let params: Vec<String> = params.iter().map(|p| p.to_string()).collect();
        let (plugin, p, g) = self.build_space(space, &params)?;
        self.set_supernet(g);
        self.space = Some((plugin, p));
        self.config.search.space = space.to_string();
        self.config.search.param = params;
        self.supernet_info()
    }

    /// Loads a graph file (supernet.json, arch.json) as the supernet.
    pub fn load_supernet(&mut self, file: &Path) -> Result<SupernetInfo> {
        let g = Graph::load(file)?;
        self.set_supernet(g);
        self.space = None;
        self.supernet_info()
    }

    /// Whether replacing the supernet now would drop a search.
    pub fn has_search(&self) -> bool {
        self.search.is_some()
    }

    fn set_supernet(&mut self, g: Graph) {
        // Data resized when read (an image folder) follows the network's input size, so
        // `data imagefolder DIR` then `init … -p resolution=64` needs no reload.
        if let (Some((_, tt)), true) = (self.data.as_mut(), g.input.height == g.input.width) {
            if let (Some(train), Some(test)) = (tt.train.at_size(g.input.height), tt.test.at_size(g.input.height)) {
                (tt.train, tt.test) = (train, test);
            }
        }
        self.supernet = Some(g);
        self.search = None;
        self.found = None;
        self.unexported_steps = 0;
    }

    /// The supernet's size, cost, groups and device.
    pub fn supernet_info(&self) -> Result<SupernetInfo> {
        let g = self.supernet()?;
        let a = g.analyze()?;
        let c = count(g, &a);
        let device = match &self.search {
            Some(search) => device_name(search.device()),
            None => match self.config.run.device.resolve() {
                Ok(d) => device_name(d),
                // `init` explains why; here it is one word in a summary.
                Err(_) => "unavailable here".into(),
            },
        };
        Ok(SupernetInfo {
            name: g.name.clone(),
            nodes: g.nodes.len(),
            params: c.params,
            macs: c.macs,
            input: [g.input.channels, g.input.height, g.input.width],
            classes: g.classes,
            device,
            device_option: crate::device::device_str(self.config.run.device),
            groups: a
                .groups
                .iter()
                .map(|g| GroupInfo { group: g.name.clone(), width: g.width, searchable: g.gated })
                .collect(),
        })
    }
}

/// Builds a network from the search space plugin `space` with `name=value` parameters;
/// `resolution`, `channels` and `classes` default to `data`'s. Returns the plugin and the
/// parameters used.
pub fn build_space(
    space: &str,
    params: &[String],
    data: Option<&Dataset>,
) -> Result<(Plugin, BTreeMap<String, String>, Graph)> {
    let plugin = crate::plugin::find(space)?;
    let (p, g) = build_with(&plugin, params, data)?;
    Ok((plugin, p, g))
}

/// Builds `space`'s network with `name=value` parameters, the data set's input shape and
/// classes filling in `resolution`, `channels` and `classes`.
fn build_with(
    space: &dyn SearchSpace,
    params: &[String],
    data: Option<&Dataset>,
) -> Result<(BTreeMap<String, String>, Graph)> {
    let mut p = parse_kv(params)?;
    if let Some(d) = data {
        let (ch, h, _) = d.image_shape();
        let known: Vec<String> = space.params().into_iter().map(|p| p.name).collect();
        // Detection data asks for a detector where the space offers one.
        let head = (d.task() == crate::graph::TaskKind::Detection).then(|| "ssdlite".to_string());
        let fill = [
            ("resolution", Some(h.to_string())),
            ("channels", Some(ch.to_string())),
            ("classes", Some(d.classes().to_string())),
            ("head", head),
        ];
        for (k, v) in fill {
            if let (true, Some(v)) = (known.iter().any(|n| n == k), v) {
                p.entry(k.to_string()).or_insert(v);
            }
        }
    }
    let name = space.name().to_string();
    let g = space.build(&p).map_err(|e| match e {
        Error::Plugin { path, message } => {
            Error::Plugin { path, message: format!("building space `{name}`: {message}") }
        }
        e => e,
    })?;
    Ok((p, g))
}
