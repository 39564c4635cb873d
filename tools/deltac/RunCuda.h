//===- RunCuda.h - deltac run --backend=cuda --------------------*- C++ -*-===//
#ifndef DELTAC_TOOLS_RUNCUDA_H
#define DELTAC_TOOLS_RUNCUDA_H

#include "deltac/Target/HostTensors.h"

#include <string>
#include <vector>

namespace deltac::tool {

/// What a GPU run reports back.
struct CudaRun {
  double seconds = 0;   ///< fastest of the timed runs (host clock around launch + synchronize)
  std::string dtype;    ///< the bundle's storage type
  std::string device;   ///< "no CUDA driver" etc. when it could not run
  std::string plan;     ///< the runtime's plan of the last run (deltart_last_plan)
};

/// Runs the bundle's kernel on `t` through libdeltart: inputs converted to the
/// bundle's storage type and copied to the device, outputs poisoned with NaN
/// before each run and copied back (o widened to f32). Returns false with a
/// message (noDevice set when there is no driver or device to run on).
bool runOnCuda(const std::string &bundle, const HostTensors &t, unsigned repeat, std::vector<float> &o,
               std::vector<float> &ht, CudaRun &info, std::string &error, bool &noDevice);

} // namespace deltac::tool

#endif
