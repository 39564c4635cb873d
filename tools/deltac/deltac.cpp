//===- deltac.cpp - the deltac command line -------------------------------===//
//
//   deltac compile SPEC [-o FILE] [--emit=STAGE] [--print-ir-after-all]
//   deltac check SPEC
//   deltac analyze SPEC [--plot FILE.svg]
//   deltac run SPEC --backend=cpu (--random B,T,H | --inputs DIR) [--outputs DIR] [--check]
//
// Exit status: 0 success, 1 user error (bad spec, bad arguments), 2 internal
// error. This is the only translation unit built with exceptions (CLI11); no
// exception crosses into MLIR.
//
//===----------------------------------------------------------------------===//
#include "Analyze.h"
#include "Run.h"
#include "Pipeline.h"

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "llvm/Config/llvm-config.h"

using namespace deltac::tool;

int main(int argc, char **argv) {
  CLI::App app{"deltac: compiles delta-rule recurrences (DeltaNet, Gated DeltaNet, Longhorn, "
               "EFLA, any Runge-Kutta integrator) into chunk-scan kernels"};
  app.set_version_flag("--version", std::string("deltac 0.1.0 (LLVM ") + LLVM_VERSION_STRING + ")");
  app.require_subcommand(1);
  app.footer("Stages and outputs (for --emit): " + stageList() +
             "\nExit status: 0 success, 1 bad spec or arguments, 2 internal error.");

  CompileOptions opts;
  CLI::App *compile = app.add_subcommand("compile", "compile a spec and print the IR of a stage");
  compile->add_option("SPEC", opts.specPath, "the .delta spec ('-' reads stdin)")->required();
  compile->add_option("-o,--output", opts.outputPath, "write to FILE instead of stdout");
  std::string emitHelp = "stop after STAGE and print its IR (default " + std::string(kDefaultStage) +
                         "), or produce an output; one of: " + stageList();
  compile->add_option("--emit", opts.emit, emitHelp);
  compile->add_flag("--print-ir-after-all", opts.printIrAfterAll,
                    "print the IR after every stage to stderr");
  compile->add_option("--chunk-size", opts.chunkSize,
                      "tokens per chunk: 16, 32, 64 or 128 (default: the compiler's choice)");
  compile->add_flag("--sequential", opts.sequential, "the token-by-token scan instead of chunks");
  compile->add_option("--dtype", opts.dtype,
                      "GPU storage type of q, k, v, the inputs and o (h0 and ht are f32)")
      ->check(CLI::IsMember({"spec", "f32", "bf16", "f16"}))
      ->default_str("spec");
  compile->add_flag("--explain-schedule", opts.explainSchedule,
                    "print the GPU kernels' schedule (kernel, chunk, tiles, warps, staging) and why");
  compile
      ->add_option("--value-tile", opts.valueTile,
                    "value columns per block of the chunked GPU kernel (128: ungated recurrences with 16-bit "
                    "storage, else halved until it applies and fits)")
      ->check(CLI::IsMember({16, 32, 64, 128}))
      ->default_str("128");
  compile
      ->add_option_function<std::string>(
          "--split-value-tile",
          [&opts](const std::string &t) { opts.splitValueTile = t == "auto" ? -1 : std::stoll(t); },
          "value columns per block of the split schedule's scan kernel, that scan only (auto: V / 8, at "
          "least 16, halved until it fits in shared memory, and a second scan at twice that tile)")
      ->check(CLI::IsMember({"auto", "16", "32", "64"}))
      ->default_str("auto");
  compile->add_option("--schedule", opts.schedule,
                      "chunked GPU kernel: pipelined (the next chunk's independent work beside this one's "
                      "solve, state in registers), phased (one phase after another), or auto (pipelined "
                      "where it fits in shared memory)")
      ->check(CLI::IsMember({"auto", "pipelined", "phased"}))
      ->default_str("auto");
  compile->add_flag("--wgmma", opts.wgmma,
                    "give each pipelined kernel an sm_90a form (K S, Q S by wgmma from swizzled shared memory), "
                    "and the larger-tile split scan at K = 128 one on warpgroups (ungated; the sm_90 image's split "
                    "workspace then has W, Q, K in blocks of 64 columns; at K = 256 that form is the default), "
                    "for the sm_90 image (experimental: "
                    "measured within -5%..+7% of the default, +3..5% at B1 T32768 D128)");

  CLI::App *check = app.add_subcommand("check", "validate a spec, print a one-line summary");
  check->add_option("SPEC", opts.specPath, "the .delta spec ('-' reads stdin)")->required();

  std::string plotPath;
  CLI::App *analyze = app.add_subcommand(
      "analyze", "print the integrator's stability function, order, stability interval and "
                 "coefficient formulas");
  analyze->add_option("SPEC", opts.specPath, "the .delta spec ('-' reads stdin)")->required();
  analyze->add_option("--plot", plotPath,
                      "draw |R(-x)| for this method and the usual ones to FILE.svg");

  RunOptions run;
  CLI::App *runCmd = app.add_subcommand(
      "run", "compile a spec for a backend, run it, optionally check it against the fp64 "
             "reference; prints one JSON line");
  runCmd->add_option("SPEC", run.specPath, "the .delta spec")->required();
  runCmd->add_option("--backend", run.backend, "cpu (default) or cuda");
  runCmd->add_option("--random", run.random, "random inputs of shape B,T,H");
  runCmd->add_option("--seed", run.seed, "seed for --random (default: fresh)");
  runCmd->add_option("--inputs", run.inputsDir,
                     "directory of .npy inputs: q, k, v, one per spec input, optional h0, cu_seqlens");
  runCmd->add_option("--outputs", run.outputsDir, "write o.npy and ht.npy there");
  runCmd->add_flag("--check", run.check, "compare with the fp64 reference");
  runCmd->add_flag("--sequential", run.sequential, "the token-by-token path instead of chunks");
  runCmd->add_option("--dtype", run.dtype,
                     "round q, k, v and the inputs to this storage type before running (and saving) them, "
                     "as a kernel storing them so reads them")
      ->check(CLI::IsMember({"f32", "bf16", "f16"}))
      ->default_str("f32");
  runCmd->add_option("--chunk-size", run.chunkSize, "16, 32, 64 or 128 (default: compiler's choice)");
  runCmd->add_option("--threads", run.threads, "worker threads (default: all cores)");
  runCmd->add_option("--repeat", run.repeat, "timed runs; the fastest is reported");
  runCmd->add_flag("--h0", run.randomH0, "with --random: a random initial state");
  runCmd->add_option("--varlen", run.varlen, "with --random (B = 1): packed sequence lengths L1,L2,...");
  runCmd->add_option("--save-inputs", run.saveInputs, "write the inputs as .npy files there");
  runCmd->add_option("--reference-outputs", run.referenceOutputs,
                     "write the fp64 reference's o.npy and ht.npy (float64) there");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    app.exit(e);
    return static_cast<int>(Exit::UserError);
  }
  if (runCmd->parsed())
    return static_cast<int>(runRun(run));
  if (analyze->parsed())
    return static_cast<int>(runAnalyze(opts.specPath, plotPath));
  if (check->parsed())
    opts.checkOnly = true;
  return static_cast<int>(runCompile(opts));
}
