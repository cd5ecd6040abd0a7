// The NCCL half of the shim, in its own translation unit: it needs the CUDA and NCCL
// headers (the nvidia-* wheels: cu13/include, nccl/include), which build.rs finds or, when
// they are absent, leaves this file out and the Rust side reports "built without NCCL".
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include <chrono>

namespace figs_dist {

// A NCCL process group on CUDA device `device`, made current first: NCCL binds each rank's
// communicator to the device current when it is created, so two ranks must not share one.
c10::intrusive_ptr<c10d::Backend> make_nccl(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                            long timeout_ms, int device) {
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(device));
  auto opts = c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = std::chrono::milliseconds(timeout_ms);
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, opts);
}

}  // namespace figs_dist
