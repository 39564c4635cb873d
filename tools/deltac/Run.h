//===- Run.h - deltac run ---------------------------------------*- C++ -*-===//
#ifndef DELTAC_TOOLS_RUN_H
#define DELTAC_TOOLS_RUN_H

#include "Pipeline.h"

#include <cstdint>
#include <string>

namespace deltac::tool {

struct RunOptions {
  std::string specPath;
  std::string backend = "cpu";
  std::string random;     ///< "B,T,H"
  std::string inputsDir;
  std::string outputsDir;
  int64_t seed = -1;      ///< -1: a fresh seed
  bool check = false;
  bool sequential = false;
  int64_t chunkSize = 0;
  unsigned threads = 0;   ///< 0: all cores
  unsigned repeat = 1;    ///< timed runs; the fastest is reported
  bool randomH0 = false;  ///< --random with an initial state
  std::string varlen;     ///< --random with packed sequences "L1,L2,..." (B must be 1)
  std::string saveInputs;       ///< write the inputs as .npy there
  std::string referenceOutputs; ///< write the fp64 reference's o and ht there
  std::string dtype = "f32";    ///< round q, k, v and the inputs to this storage type first
};

/// Compiles the spec, runs it on random or given inputs, optionally checks
/// it against the reference and writes o.npy/ht.npy; prints one JSON line.
Exit runRun(const RunOptions &opts);

} // namespace deltac::tool

#endif
