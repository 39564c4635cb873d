//===- CpuScanTest.cpp - the compiled CPU scans against the reference -----===//
//
// Every example spec, and every named integrator, compiled through
// discretize -> chunk (and -> sequential) -> LLVM, JIT-run on fresh random
// inputs (key norms spread over 0.1..10, some all-zero keys, T not a multiple
// of the chunk, with and without h0, variable lengths) and compared with the
// long-double reference: relative error of o and ht at most 1e-5.
//
//===----------------------------------------------------------------------===//
#include "deltac/Driver/Driver.h"
#include "deltac/Integrators/Methods.h"
#include "deltac/Reference/Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

using namespace deltac;

namespace {

std::string readExample(const std::string &name) {
  std::ifstream in(std::string(DELTAC_EXAMPLES_DIR) + "/" + name + ".delta");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string withDims(std::string spec, int K, int V) {
  return std::regex_replace(spec, std::regex("K = [0-9]+, V = [0-9]+"),
                            "K = " + std::to_string(K) + ", V = " + std::to_string(V));
}

uint64_t freshSeed() {
  static std::random_device rd;
  return (uint64_t(rd()) << 32) | rd();
}

struct Errors {
  double o, ht;
};

struct Outputs {
  std::vector<float> o, ht;
};

Outputs runKernel(const driver::CompiledSpec &cs, const driver::Problem &p) {
  const HostTensors &t = p.view;
  // Poisoned outputs: anything the kernel fails to write stays NaN.
  Outputs out{std::vector<float>(t.B * t.T * t.H * t.V, NAN),
              std::vector<float>(t.numSequences() * t.H * t.K * t.V, NAN)};
  cs.kernel->run(t, out.o.data(), out.ht.data(), std::thread::hardware_concurrency());
  return out;
}

std::vector<double> widen(const std::vector<float> &x) { return {x.begin(), x.end()}; }

Errors compare(const driver::CompiledSpec &cs, const driver::Problem &p,
               const reference::Result &ref) {
  Outputs out = runKernel(cs, p);
  return {reference::relativeError(out.o, ref.o), reference::relativeError(out.ht, ref.ht)};
}

std::unique_ptr<driver::CompiledSpec> compile(const std::string &text, bool sequential,
                                              int64_t chunk = 0) {
  std::string error;
  bool userError = false;
  std::ostringstream diags;
  auto cs = driver::compileForCpu("test.delta", text, {sequential, chunk}, error, userError, diags);
  EXPECT_TRUE(cs) << diags.str() << error;
  return cs;
}

void checkSpec(const std::string &label, const std::string &text, const std::vector<int64_t> &Ts,
               int64_t H) {
  auto chunked = compile(text, false);
  auto sequential = compile(text, true);
  ASSERT_TRUE(chunked && sequential);
  auto run = [&](driver::RandomOptions ro, const std::string &what) {
    ro.seed = freshSeed();
    ro.zeroKeyFraction = 0.05;
    driver::Problem p = driver::randomProblem(chunked->checked, ro);
    reference::Result ref = reference::run(chunked->checked, p.view);
    Outputs oc = runKernel(*chunked, p), os = runKernel(*sequential, p);
    Errors ec{reference::relativeError(oc.o, ref.o), reference::relativeError(oc.ht, ref.ht)};
    Errors es{reference::relativeError(os.o, ref.o), reference::relativeError(os.ht, ref.ht)};
    std::string where = label + " " + what + " seed " + std::to_string(ro.seed);
    // The two compiled paths against each other.
    EXPECT_LE(reference::relativeError(oc.o, widen(os.o)), 1e-5) << where << " (chunked vs sequential o)";
    EXPECT_LE(reference::relativeError(oc.ht, widen(os.ht)), 1e-5) << where << " (chunked vs sequential ht)";
    EXPECT_LE(ec.o, 1e-5) << where << " (chunked o)";
    EXPECT_LE(ec.ht, 1e-5) << where << " (chunked ht)";
    EXPECT_LE(es.o, 1e-5) << where << " (sequential o)";
    EXPECT_LE(es.ht, 1e-5) << where << " (sequential ht)";
    return ec;
  };
  double worst = 0;
  for (int64_t T : Ts)
    for (bool h0 : {false, true}) {
      driver::RandomOptions ro;
      ro.B = 2, ro.T = T, ro.H = H, ro.withH0 = h0;
      Errors e = run(ro, "T=" + std::to_string(T) + (h0 ? " h0" : ""));
      worst = std::max({worst, e.o, e.ht});
    }
  // Variable lengths: three sequences of unequal length, packed.
  driver::RandomOptions ro;
  ro.B = 1, ro.T = 150, ro.H = H, ro.withH0 = true, ro.cuSeqlens = {0, 7, 100, 150};
  Errors e = run(ro, "varlen");
  worst = std::max({worst, e.o, e.ht});
  std::printf("%-28s worst relative error (chunked vs reference) %.2e\n", label.c_str(), worst);
}

TEST(CpuScan, EveryExampleMatchesTheReference) {
  for (const char *name : {"efla", "deltanet", "rk4", "longhorn", "gated_deltanet", "gated_efla"})
    checkSpec(name, readExample(name), {1, 15, 64, 67, 1000}, 2);
}

TEST(CpuScan, EveryNamedIntegratorMatchesTheReference) {
  // The EFLA spec (raw keys) with each integrator, and its gated version.
  for (llvm::StringRef m : namedIntegrators())
    for (const char *base : {"efla", "gated_efla"}) {
      std::string text = withDims(readExample(base), 32, 48);
      text = std::regex_replace(text, std::regex("integrator exact"), "integrator " + m.str());
      checkSpec((m + " (" + base + ")").str(), text, {1, 15, 64, 67, 1000}, 2);
    }
}

TEST(CpuScan, EveryChunkSizeMatchesTheReference) {
  std::string text = withDims(readExample("gated_efla"), 64, 64);
  for (int64_t C : {16, 32, 64, 128}) {
    auto cs = compile(text, false, C);
    ASSERT_TRUE(cs);
    EXPECT_EQ(cs->chunkSize, C);
    driver::RandomOptions ro;
    ro.B = 1, ro.T = 2 * C + 3, ro.H = 3, ro.withH0 = true, ro.seed = freshSeed();
    driver::Problem p = driver::randomProblem(cs->checked, ro);
    auto ref = reference::run(cs->checked, p.view);
    Errors e = compare(*cs, p, ref);
    EXPECT_LE(e.o, 1e-5) << "C = " << C;
    EXPECT_LE(e.ht, 1e-5) << "C = " << C;
  }
}

TEST(CpuScan, NaNInTheInputsReachesTheOutputs) {
  auto cs = compile(withDims(readExample("efla"), 16, 16), false);
  ASSERT_TRUE(cs);
  driver::RandomOptions ro;
  ro.T = 40, ro.seed = freshSeed();
  driver::Problem p = driver::randomProblem(cs->checked, ro);
  p.inputs[0][20] = NAN; // beta of token 20
  p.bind();
  std::vector<float> o(40 * 16), ht(16 * 16);
  cs->kernel->run(p.view, o.data(), ht.data(), 1);
  EXPECT_TRUE(std::isnan(o[20 * 16])) << "o at the NaN token";
  EXPECT_TRUE(std::isnan(ht[0])) << "final state";
}

} // namespace
