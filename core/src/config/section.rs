//! The `section!` macro: one line per setting — field, type, default, name, check, help —
//! gives the typed field, its default, its text and JSON forms, its check and its help, so
//! no setting is declared twice.

/// What the front ends show of one setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The name in `set NAME`, `--NAME` and the text form of config.json.
    pub name: &'static str,
    /// The section it belongs to (`search`, `gates`, `retrain`, `data`, `run`).
    pub section: &'static str,
    pub help: &'static str,
    /// The default in text form (what `set NAME DEFAULT` would give).
    pub default: String,
    /// A flag without a value (`--straight-through`).
    pub switch: bool,
    /// A flag that may repeat (`-p a=1 -p b=2`).
    pub list: bool,
}

/// The result of a section's setter: None when the name is not in the section.
pub(crate) type Found<T> = Option<Result<T, String>>;

macro_rules! section {
    (
        $(#[doc = $sdoc:literal])*
        $ty:ident $key:literal {
            $( $field:ident : $fty:ty = $default:expr, $text:literal, $check:path, $help:literal; )*
        }
    ) => {
        $(#[doc = $sdoc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $ty {
            $( #[doc = $help] pub $field: $fty, )*
        }

        impl Default for $ty {
            fn default() -> Self {
                $ty { $( $field: $default, )* }
            }
        }

        impl $ty {
            pub(crate) fn settings() -> Vec<$crate::config::Setting> {
                use $crate::config::SettingValue;
                let d = $ty::default();
                vec![$( $crate::config::Setting {
                    name: $text,
                    section: $key,
                    help: $help,
                    default: d.$field.to_text(),
                    switch: <$fty as SettingValue>::SWITCH,
                    list: <$fty as SettingValue>::LIST,
                } ),*]
            }

            pub(crate) fn set_text(&mut self, name: &str, text: &str) -> $crate::config::section::Found<()> {
                use $crate::config::SettingValue;
                match name {
                    $( $text => Some(<$fty>::parse_text(text).and_then(|v| { $check(&v)?; self.$field = v; Ok(()) })), )*
                    _ => None,
                }
            }

            pub(crate) fn set_items(&mut self, name: &str, items: &[String]) -> $crate::config::section::Found<()> {
                use $crate::config::SettingValue;
                match name {
                    $( $text => Some(<$fty>::from_items(items).and_then(|v| { $check(&v)?; self.$field = v; Ok(()) })), )*
                    _ => None,
                }
            }

            pub(crate) fn set_json(&mut self, name: &str, value: &serde_json::Value) -> $crate::config::section::Found<()> {
                use $crate::config::SettingValue;
                match name {
                    $( $text => Some(<$fty>::from_json(value).and_then(|v| { $check(&v)?; self.$field = v; Ok(()) })), )*
                    _ => None,
                }
            }

            pub(crate) fn get(&self, name: &str) -> Option<serde_json::Value> {
                use $crate::config::SettingValue;
                match name {
                    $( $text => Some(self.$field.to_json()), )*
                    _ => None,
                }
            }

            /// Every setting whose value its check refuses (typed access skips the checks
            /// until the configuration is used).
            pub(crate) fn refused(&self) -> Vec<(&'static str, String)> {
                let mut out = Vec::new();
                $( if let Err(e) = $check(&self.$field) { out.push(($text, e)); } )*
                out
            }
        }
    };
}

pub(crate) use section;
