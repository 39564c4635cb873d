//===- Pipeline.h - the stages deltac runs ----------------------*- C++ -*-===//
#ifndef DELTAC_TOOLS_PIPELINE_H
#define DELTAC_TOOLS_PIPELINE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"

#include <functional>
#include <string>
#include <vector>

namespace deltac::tool {

struct CompileOptions;

struct Stage {
  const char *name;
  const char *description;
  const char *after; ///< the stage this one starts from (null for the first)
  /// Transforms the module in place (null for the frontend stage).
  std::function<mlir::LogicalResult(mlir::ModuleOp, const CompileOptions &)> run;
};

/// All stages, in pipeline order; the first is the frontend's output.
const std::vector<Stage> &stages();
/// The index of stage `name`, or -1.
int findStage(llvm::StringRef name);
/// "parsed, discrete, ..." for help texts.
std::string stageList();

enum class Exit { Ok = 0, UserError = 1, InternalError = 2 };

struct CompileOptions {
  std::string specPath;       ///< "-" for stdin
  std::string outputPath;     ///< "" or "-" for stdout
  std::string emit;           ///< stage name or "object"; "" for the default stage
  bool printIrAfterAll = false;
  bool checkOnly = false;
  bool sequential = false;    ///< the token-by-token scan instead of chunks
  int64_t chunkSize = 0;      ///< 0: the compiler chooses
  std::string dtype = "spec"; ///< GPU storage type of q, k, v, inputs, o
  bool explainSchedule = false; ///< print the GPU kernels' schedule and why
  int64_t valueTile = 128;    ///< value columns per block of the chunked GPU kernel
  int64_t splitValueTile = -1; ///< value columns per block of the split schedule's scan (-1: the compiler's choice)
  std::string schedule = "auto"; ///< chunked GPU kernel: auto, pipelined or phased
  bool wgmma = false;             ///< sm_90a twins of the pipelined kernels (wgmma)
};

/// Outputs that are not IR: each is produced from the IR of a stage.
struct Output {
  const char *name;
  const char *from; ///< the stage whose IR it is made from
  const char *description;
};
const std::vector<Output> &outputs();

/// The stage `deltac compile` stops after by default.
constexpr const char *kDefaultStage = "chunked";

/// Runs the frontend and the stages up to `emit`; prints diagnostics to
/// stderr and the IR to the output.
Exit runCompile(const CompileOptions &opts);

/// Writes `data` to `path` through a temporary file and a rename, so that a
/// failure never leaves a half-written file behind.
bool writeFileAtomically(const std::string &path, llvm::StringRef data, std::string &error);

/// Compiles a spec's text to a GPU kernel bundle in memory (as --emit=bundle
/// does); the spec's own errors are printed and set userError.
bool compileBundle(const std::string &name, const std::string &specText, const CompileOptions &opts,
                   std::string &bundle, std::string &error, bool &userError);

} // namespace deltac::tool

#endif
