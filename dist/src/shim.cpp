// The C ABI between figs-dist (Rust) and PyTorch's c10d: a TCPStore, a process group
// (Gloo for CPU tensors; NCCL for CUDA ones, from shim_nccl.cpp when it was built), and the
// three collectives a data-parallel search needs. Every entry point catches C++
// exceptions and returns them as text: no exception crosses into Rust.
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef FIGS_NCCL
namespace figs_dist {
c10::intrusive_ptr<c10d::Backend> make_nccl(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                            long timeout_ms, int device);
}
#endif

namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> pg;
};

c10::intrusive_ptr<c10d::Backend> make_gloo(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                            long timeout_ms) {
  auto opts = c10d::ProcessGroupGloo::Options::create(std::chrono::milliseconds(timeout_ms));
  // As PyTorch does: GLOO_SOCKET_IFNAME picks the interface (a hostname that resolves to
  // 127.0.1.1, Debian's default, would otherwise make a multi-node join hang).
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  opts->devices.push_back(ifname != nullptr && ifname[0] != '\0'
                              ? c10d::ProcessGroupGloo::createDeviceForInterface(std::string(ifname))
                              : c10d::ProcessGroupGloo::createDefaultDevice());
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
}

int fail(char* err, size_t len, const char* what) {
  if (err != nullptr && len > 0) {
    std::strncpy(err, what, len - 1);
    err[len - 1] = '\0';
  }
  return -1;
}

// tch's C_tensor is an at::Tensor*.
std::vector<at::Tensor> gather(void** tensors, int n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) out.push_back(*static_cast<at::Tensor*>(tensors[i]));
  return out;
}

// One flat buffer holding every tensor: one collective call instead of one per tensor.
std::vector<at::Tensor> flatten(const std::vector<at::Tensor>& ts) {
  std::vector<at::Tensor> parts;
  for (auto& t : ts) parts.push_back(t.reshape({-1}));
  return {at::cat(parts)};
}

// Copies the buffer's slices back into the tensors, in place.
void unflatten(const at::Tensor& buf, std::vector<at::Tensor>& ts) {
  int64_t off = 0;
  for (auto& t : ts) {
    auto k = t.numel();
    t.copy_(buf.narrow(0, off, k).view(t.sizes()));
    off += k;
  }
}

// Runs `f`, turning any C++ exception into -1 and its text in `err`: none may unwind
// into Rust.
template <typename F>
int guarded(char* err, size_t errlen, F f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return fail(err, errlen, e.what());
  } catch (...) {
    return fail(err, errlen, "unknown C++ exception");
  }
}

}  // namespace

extern "C" {

// 1 when shim_nccl.cpp was compiled in.
int figs_dist_has_nccl() {
#ifdef FIGS_NCCL
  return 1;
#else
  return 0;
#endif
}

// Connects to the store at addr:port (serving it when `serve`), joins the group of `world`
// processes as `rank` with `backend` (0 Gloo, 1 NCCL on CUDA device `device`). Returns null
// and fills `err` on failure.
void* figs_dist_init(int rank, int world, const char* addr, int port, int serve, long timeout_ms,
                     const char* prefix, int backend, int device, char* err, size_t errlen) {
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = serve != 0;
    so.numWorkers = world;
    so.waitWorkers = false;
    so.timeout = std::chrono::milliseconds(timeout_ms);
    auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(addr), so);
    // A prefix keeps our keys apart from torchrun's own in the agent's store.
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::PrefixStore>(std::string(prefix), tcp);
    c10::intrusive_ptr<c10d::Backend> pg;
    if (backend == 1) {
#ifdef FIGS_NCCL
      pg = figs_dist::make_nccl(store, rank, world, timeout_ms, device);
#else
      // Unreachable from figs-dist, which checks figs_dist_has_nccl() and explains first.
      throw std::runtime_error("built without NCCL");
#endif
    } else {
      pg = make_gloo(store, rank, world, timeout_ms);
    }
    return new Group{store, pg};
  } catch (const std::exception& e) {
    fail(err, errlen, e.what());
    return nullptr;
  } catch (...) {
    fail(err, errlen, "unknown C++ exception while joining the group");
    return nullptr;
  }
}

void figs_dist_free(void* g) {
  try {
    delete static_cast<Group*>(g);
  } catch (...) {
    // Leaving the group at exit: nothing left to report to.
  }
}

// Averages `n` float tensors over the group in one all-reduce of one flat buffer.
int figs_dist_all_reduce_mean(void* g, void** tensors, int n, char* err, size_t errlen) {
  return guarded(err, errlen, [&] {
    auto* group = static_cast<Group*>(g);
    auto ts = gather(tensors, n);
    if (ts.empty()) return 0;
    auto buf = flatten(ts);
    group->pg->allreduce(buf)->wait();
    buf[0].div_(group->pg->getSize());
    unflatten(buf[0], ts);
    return 0;
  });
}

// Copies `root`'s values of `n` tensors to every rank (one flat buffer).
int figs_dist_broadcast(void* g, void** tensors, int n, int root, char* err, size_t errlen) {
  return guarded(err, errlen, [&] {
    auto* group = static_cast<Group*>(g);
    auto ts = gather(tensors, n);
    if (ts.empty()) return 0;
    for (auto& t : ts) {
      // One float buffer: another type would be rounded on every rank, rank 0 included.
      if (t.scalar_type() != at::kFloat) throw std::invalid_argument("broadcast takes float32 tensors only");
    }
    auto buf = flatten(ts);
    c10d::BroadcastOptions o;
    o.rootRank = root;
    group->pg->broadcast(buf, o)->wait();
    unflatten(buf[0], ts);
    return 0;
  });
}

int figs_dist_barrier(void* g, char* err, size_t errlen) {
  return guarded(err, errlen, [&] {
    static_cast<Group*>(g)->pg->barrier()->wait();
    return 0;
  });
}

}  // extern "C"
