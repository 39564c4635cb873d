//===- ToGPUChunked.cpp - delta.recurrence -> chunked GPU kernel ----------===//
//
// The phased schedule of the chunked scan (MATH.md section 4; the pipelined
// one is in ToGPUPipelined.cpp), one GPU kernel: a block
// of 16 warps per (sequence, head) pair and value tile (64 columns, halved
// until the block fits in shared memory: 32 at K = 256) walks the pair's
// chunks of C = 64 tokens with the state tile (K x tile, f32 and an f16
// copy) in shared memory. Per chunk:
//
//   prologue   eight threads per token: the key and query slices (staged by
//              cp.async during the previous chunk when the buffer fits),
//              ||k||^2 by shuffles, L2 scale, (g, a, b), log g; the cumulative
//              log G by a warp scan; the values staged by cp.async
//   tensor     KK = K K^T, QK = Q K^T, then KS = K S0, QS = Q S0 (ldmatrix +
//   cores      mma.sync m16n8k16, f16 operands, f32 accumulators), the masks
//              and decay weights applied as the accumulators leave:
//              L = diag(a) (Gamma o StrictTril(KK)); QK <- Gamma o Tril(QK);
//              RHS = diag(b) V - diag(a G) KS; QS <- diag(G) QS
//   solve      Delta = (I + L)^{-1} RHS: the four 16 x 16 diagonal inverses
//              in f32 (four warps, shuffles), then per 8-column strip one
//              warp walks the block rows (f16 tensor-core off-diagonal
//              updates, the inverses applied by split tf32 products)
//   tensor     O = QS + QK Delta;  S = G_C S + (K^T diag(G_C / G)) Delta
//   cores      (the state's f16 copy written by the same epilogue)
//   store      o = scale O in 16-byte vectors
//
// All of it lives in dynamic shared memory (the manifest records the size).
//
//===----------------------------------------------------------------------===//
#include "ChunkedGpu.h"
#include "deltac/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace deltac {

#define GEN_PASS_DEF_DELTATOGPUCHUNKED
#include "deltac/Transforms/Passes.h.inc"

/// Builds `@name`, one kernel of the recurrence with value tile VT in the
/// phased schedule (the recurrence is kept); returns the kernel and its
/// shared-memory bytes.
BuiltKernel buildPhasedKernel(delta::RecurrenceOp rec, int64_t VT, StringRef name, StringRef variant, Type io,
                              bool prefetch) {
  KernelBuilder kb = KernelBuilder::gpu(rec, "gpu-chunked", name, io);
  OpBuilder &b = kb.builder();
  Location l = kb.loc();
  using Mat = Chunked::Mat;
  const int64_t K = kb.K(), V = kb.V(), C = kChunk;
  Chunked ck{kb, b, l, K, V, Value(), Value(), b.getF16Type(), b.getF32Type()};
  Value smem = ck.begin(VT, variant, "phased",
                        "phased, one phase after another behind block barriers, the state "
                        "tile in shared memory");
  Value zero = kb.idx(0), one = kb.idx(1), Vn = kb.idx(V);
  Value fzero = kb.f32(0);
  Value scale = kb.f32(llvm::cast<FloatAttr>(kb.attr("delta.scale")).getValueAsDouble());
  Value v0 = kb.imul(gpu::BlockIdOp::create(b, l, gpu::Dimension::y), kb.idx(VT));
  Value vi = arith::DivUIOp::create(b, l, kb.imul(ck.tid, kb.idx(C * VT / kThreads)), kb.idx(VT));
  Value vj0 = arith::RemUIOp::create(b, l, kb.imul(ck.tid, kb.idx(C * VT / kThreads)), kb.idx(VT));
  bool gated = !kb.ungated();

  // Shared memory.
  int64_t off = 0;
  Mat S = ck.view(smem, off, K, VT, ck.f32), Sh = ck.view(smem, off, K, VT, ck.f16);
  Mat Kh = ck.view(smem, off, C, K, ck.f16), Qh = ck.view(smem, off, C, K, ck.f16);
  // The values: staged by cp.async in the storage type when every 16-byte
  // piece of a row lies inside V (V a multiple of 16), else loaded to f32.
  const bool asyncV = V % 16 == 0;
  kb.function()->setAttr("delta.value_staging", b.getStringAttr(asyncV ? "cp.async" : "loads"));
  // With asyncV each thread moves one run of `per` consecutive values of a
  // chunk row (row vi, columns vj0..), in pieces of `unit` elements (<= 16 bytes).
  const int64_t ioBytes = kb.ioType().getIntOrFloatBitWidth() / 8, per = C * VT / kThreads;
  const int64_t unit = std::min<int64_t>(per, 16 / ioBytes);
  Mat Vc = ck.view(smem, off, C, VT, asyncV ? kb.ioType() : ck.f32);
  Mat KKd = ck.view(smem, off, C, 16, ck.f32);
  Mat QKh = ck.view(smem, off, C, C, ck.f16), KS = ck.view(smem, off, C, VT, ck.f32);
  Mat QS = ck.view(smem, off, C, VT, ck.f32), Dh = ck.view(smem, off, C, VT, ck.f16);
  Value A = ck.view(smem, off, C, 1, ck.f32).mem, Bc = ck.view(smem, off, C, 1, ck.f32).mem;
  Value LG = ck.view(smem, off, C, 1, ck.f32).mem;
  Mat Tinv = ck.view(smem, off, C, 16, ck.f32), Lh = ck.view(smem, off, C, C, ck.f16);
  // The next chunk's keys and queries (storage type, row i: k then q), staged
  // by cp.async while this chunk computes; only with 16-byte vector pieces.
  const int64_t width = 128 / kb.ioType().getIntOrFloatBitWidth();
  const bool vectorKeys = (K / 8) % width == 0;
  prefetch = prefetch && vectorKeys;
  kb.function()->setAttr("delta.key_loads", b.getStringAttr(vectorKeys ? "vector16" : "scalar"));
  kb.function()->setAttr("delta.key_staging", b.getStringAttr(prefetch ? "cp.async-next-chunk" : "direct"));
  Mat Stg = prefetch ? ck.view(smem, off, C, 2 * K, kb.ioType()) : Mat{};
  const int64_t sharedBytes = off;
  // Thread (token i, part p) of the prologue owns columns p K/8 .. of row i.
  Value pTok = arith::DivUIOp::create(b, l, ck.tid, kb.idx(8));
  Value pD0 = kb.imul(arith::RemUIOp::create(b, l, ck.tid, kb.idx(8)), kb.idx(K / 8));
  // Stages the keys and queries of the chunk at c (rows past the end
  // zero-filled) into Stg: each thread exactly the pieces it reads later.
  auto stageKeys = [&](Value c) {
    Value tok = kb.iadd(c, pTok);
    Value in = ck.lt(tok, kb.len());
    Value row = kb.tokenRow(arith::MinUIOp::create(b, l, tok, arith::SubIOp::create(b, l, kb.len(), one)));
    Value count = ck.select(in, kb.idx(width), zero);
    SmallVector<Value> tokens;
    for (auto [mem, col0] : {std::pair{kb.k(), int64_t(0)}, std::pair{kb.q(), K}})
      for (int64_t d = 0; d < K / 8; d += width)
        tokens.push_back(nvgpu::DeviceAsyncCopyOp::create(
            b, l, nvgpu::DeviceAsyncTokenType::get(b.getContext()), Stg.mem,
            ValueRange{pTok, kb.iadd(pD0, kb.idx(col0 + d))}, mem,
            ValueRange{kb.iadd(kb.imul(row, kb.idx(K)), kb.iadd(pD0, kb.idx(d)))}, b.getIndexAttr(width), count,
            b.getUnitAttr()));
    nvgpu::DeviceAsyncCreateGroupOp::create(b, l, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);
  };
  // Waits for every cp.async group this thread committed.
  auto waitAll = [&]() {
    Value none = nvgpu::DeviceAsyncCreateGroupOp::create(b, l, nvgpu::DeviceAsyncTokenType::get(b.getContext()),
                                                         ValueRange{});
    nvgpu::DeviceAsyncWaitOp::create(b, l, none, b.getI32IntegerAttr(0));
  };

  // The state tile from h0 (or 0), and its f16 copy.
  ck.loadStateTile(S, Sh, v0, VT);
  ck.barrier();

  if (prefetch) {
    auto any = scf::IfOp::create(b, l, arith::CmpIOp::create(b, l, arith::CmpIPredicate::sgt, kb.len(), zero), false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(any.thenBlock());
    stageKeys(zero);
  }
  kb.loop(zero, kb.len(), C, [&](Value c0) {
    Value n = arith::MinSIOp::create(b, l, kb.idx(C), arith::SubIOp::create(b, l, kb.len(), c0));
    // Prologue: eight threads per token, each loading 1/8 of its key and
    // query row; ||k||^2 summed across the eight with shuffles; the keys
    // scaled (L2 norm), the keys and queries stored as f16 (rows past the end
    // read the last token and are stored as zeros); the first of the eight
    // computes the token's (g, a, b) and log g. Then the values.
    static_assert(kThreads == 8 * kChunk, "the prologue maps eight threads to a token");
    Value vGroup;
    {
      Value i = pTok, d0 = pD0;
      Value part = arith::RemUIOp::create(b, l, ck.tid, kb.idx(8));
      Value live = ck.lt(i, n);
      Value row = kb.tokenRow(kb.iadd(c0, arith::MinUIOp::create(b, l, i, arith::SubIOp::create(b, l, n, one))));
      Value base = kb.iadd(kb.imul(row, kb.idx(K)), d0);
      SmallVector<Value> ks, qs;
      // 16-byte vector loads when a thread's slice is whole 16-byte pieces
      // (the runtime requires 16-byte aligned q and k), else scalar ones;
      // from the staging buffer (this thread's own cp.async copies) when the
      // chunk was prefetched.
      if (prefetch)
        waitAll();
      if (vectorKeys) {
        auto vt = VectorType::get({width}, kb.ioType()), vf = VectorType::get({width}, ck.f32);
        for (int64_t d = 0; d < K / 8; d += width) {
          for (auto [mem, out, col0] : {std::tuple{kb.k(), &ks, int64_t(0)}, std::tuple{kb.q(), &qs, K}}) {
            Value x = prefetch ? vector::LoadOp::create(b, l, vt, Stg.mem, ValueRange{i, kb.iadd(d0, kb.idx(col0 + d))},
                                                        false, llvm::MaybeAlign(16))
                               : vector::LoadOp::create(b, l, vt, mem, ValueRange{kb.iadd(base, kb.idx(d))}, false,
                                                        llvm::MaybeAlign(16));
            if (!kb.ioType().isF32())
              x = arith::ExtFOp::create(b, l, vf, x);
            for (int64_t m = 0; m < width; ++m)
              out->push_back(vector::ExtractOp::create(b, l, x, ArrayRef<int64_t>{m}));
          }
        }
      } else {
        for (int64_t d = 0; d < K / 8; ++d) {
          ks.push_back(kb.loadIO(kb.k(), kb.iadd(base, kb.idx(d))));
          qs.push_back(kb.loadIO(kb.q(), kb.iadd(base, kb.idx(d))));
        }
      }
      if (asyncV) {
        // cp.async (nvgpu.device_async_copy), 4-16 bytes per copy, rows
        // past the end and columns past V zero-filled; waited for after the
        // first tensor-core products, which it overlaps.
        Value i = vi, j0 = vj0;
        Value row = kb.tokenRow(kb.iadd(c0, arith::MinUIOp::create(b, l, i, arith::SubIOp::create(b, l, n, one))));
        Value on = arith::AndIOp::create(b, l, ck.lt(i, n), ck.lt(kb.iadd(v0, j0), Vn));
        vGroup = ck.copyValues(Vc, i, j0, row, on, v0, per, unit);
      } else {
        ck.unrolled(
            C * VT,
            [&](Value e) -> SmallVector<Value> {
              Value i = arith::DivUIOp::create(b, l, e, kb.idx(VT)), j = arith::RemUIOp::create(b, l, e, kb.idx(VT));
              Value row = kb.tokenRow(kb.iadd(c0, arith::MinUIOp::create(b, l, i, arith::SubIOp::create(b, l, n, one))));
              Value col = arith::MinUIOp::create(b, l, kb.iadd(v0, j), kb.idx(V - 1));
              return {kb.loadIO(kb.v(), kb.iadd(kb.imul(row, Vn), col))};
            },
            [&](Value e, ArrayRef<Value> vv) {
              Value i = arith::DivUIOp::create(b, l, e, kb.idx(VT)), j = arith::RemUIOp::create(b, l, e, kb.idx(VT));
              Value on = arith::AndIOp::create(b, l, ck.lt(i, n), ck.lt(kb.iadd(v0, j), Vn));
              kb.store(ck.select(on, vv[0], fzero), Vc.mem, {i, j});
            });
      }
      ck.finishPrologue(rec, ks, qs, i, d0, part, live, row, Kh, Qh, A, Bc, LG);
    }
    ck.barrier();
    if (prefetch) // the next chunk's keys and queries, overlapping this one
      stageKeys(kb.iadd(c0, kb.idx(C)));
    if (gated) // cumulative log G: an inclusive scan over the chunk in warp 0
      ck.when(ck.lt(ck.tid, kb.idx(32)), [&] { ck.scanLogG(LG); });
    ck.barrier();
    // Tensor cores, the masks and decay weights applied as the products
    // leave the accumulators: L = diag(a) (Gamma o StrictTril(K K^T)) (f32
    // for the inverses, -L in f16), QK = Gamma o Tril(Q K^T) (f16); then
    // RHS = diag(b) V - diag(a G) K S0 and QS = diag(G) Q S0 (f32).
    ck.matmuls(ck.kqProducts(Kh, Qh, KKd, Lh, QKh, A, LG, gated), 0, Chunked::T(Kh), 0, C, C, K);
    if (vGroup) { // every thread's copies done, then visible to all
      // (not the next chunk's keys, the group committed after the values)
      nvgpu::DeviceAsyncWaitOp::create(b, l, vGroup, b.getI32IntegerAttr(prefetch ? 1 : 0));
      ck.barrier();
    }
    ck.matmuls(ck.ksProducts(Kh, Qh, KS, QS, A, Bc, LG, Vc, gated), 0, Sh, 0, C, VT, K);
    ck.barrier();
    // Delta = (I + L)^{-1} RHS, blocked by 16 rows. First the inverses of the
    // four unit lower-triangular 16 x 16 diagonal blocks, in f32, one warp per
    // block: lane (h, j) holds rows 8h .. 8h+7 of column j and substitutes
    // forward, row k's final value broadcast by a shuffle at step k (L is
    // strictly lower, so rows at or above k are left unchanged).
    ck.when(ck.lt(ck.tid, kb.idx(32 * (C / 16))), [&] { ck.inverse(kb.imul(ck.warp, kb.idx(16)), KKd, Tinv); });
    ck.barrier();
    // Then per 8-column strip of the value tile, one warp walks the block
    // rows: RHS_r -= L_r,<r Delta_<r (f16 tensor cores, Lh holds -L) and
    // Delta_r = Tinv_r RHS_r (tf32 tensor cores, three products of split
    // operands: f32 accuracy). A strip's rows depend only on the same strip's
    // earlier rows, so the warp needs no block barrier between block rows.
    ck.solveStrips(Lh, Tinv, KS, Dh, VT);
    ck.barrier();
    // The keys' weights G_C / G_i for the update.
    Value gc = gated ? kb.exp(kb.load(LG, kb.idx(C - 1))) : Value();
    if (gated) {
      ck.strided(C * K, [&](Value e) {
        Value i = arith::DivUIOp::create(b, l, e, kb.idx(K)), d = arith::RemUIOp::create(b, l, e, kb.idx(K));
        Value w = kb.exp(kb.sub(kb.load(LG, kb.idx(C - 1)), kb.load(LG, i)));
        Value kv = arith::ExtFOp::create(b, l, ck.f32, kb.load(Kh.mem, {i, d}));
        kb.store(ck.toF16(kb.mul(w, kv)), Kh.mem, {i, d});
      });
      ck.barrier();
    }
    // Tensor cores: O = QS + QK Delta; S = G_C S + (K^T diag(w)) Delta, stored
    // in f32 and as the f16 operand of the next chunk's products.
    ck.matmuls({{QKh, QS, true}}, 0, Dh, 0, C, VT, C);
    ck.matmuls({{Chunked::T(Kh), S, true,
                 [&](Value d, Value j, Value x) {
                   kb.store(x, S.mem, {d, j});
                   kb.store(ck.toF16(x), Sh.mem, {d, j});
                 },
                 gc}},
               0, Dh, 0, K, VT, C);
    ck.barrier();
    // Outputs (each thread a run of consecutive columns, stored as whole
    // vectors of the storage type when V is a multiple of 16).
    ck.storeOutputs(QS, c0, n, v0, VT, scale, vi, vj0);
    ck.barrier();
  });
  if (prefetch) // the last chunk's (zero-filled) prefetch lands before exit
    waitAll();
  // ht = the state tile.
  ck.storeStateTile(S, v0, VT);
  kb.function()->setAttr("delta.shared_bytes", b.getI64IntegerAttr(sharedBytes));
  kb.finish(false);
  return {kb.function(), sharedBytes};
}

namespace {

/// The widest value tile from `VT` down (halving, at least 16) for which a
/// schedule fits in a block's shared memory: the pipelined one first (unless
/// `schedule` is "phased"), then the phased one with and without the next
/// chunk's keys staged (unless it is "pipelined"). Returns the kernel, or null.
Operation *buildFitting(delta::RecurrenceOp rec, int64_t VT, StringRef name, StringRef variant, Type io,
                        StringRef schedule) {
  MLIRContext *ctx = rec.getContext();
  std::string whyNotPipelined;
  // Why value tile VT was halved: by default, shared memory.
  std::string whyHalved = "value tile " + std::to_string(VT) + " needs more than " + std::to_string(kMaxSharedBytes) +
                          " bytes of shared memory at K = " + std::to_string(rec.getKeyDim());
  for (int64_t t = VT; t >= 16; t /= 2) {
    for (int kind = 0; kind < 3; ++kind) { // pipelined, phased + staging, phased
      if ((kind == 0 && schedule == "phased") || (kind > 0 && schedule == "pipelined"))
        continue;
      if (kind > 0 && t > 64) { // the phased schedule: value tiles up to 64
        if (schedule == "phased")
          whyHalved = "the phased schedule (--schedule=phased was given) takes value tiles up to 64";
        continue;
      }
      BuiltKernel k = kind == 0 ? buildPipelinedKernel(rec, t, name, variant, io)
                                : buildPhasedKernel(rec, t, name, variant, io, kind == 1);
      if (!k.fn && t > 64) {
        whyHalved = "value tile " + std::to_string(t) +
                    " needs an ungated recurrence with 16-bit storage (and the pipelined schedule's V a multiple of "
                    "16, keys in whole 16-byte pieces)";
        continue;
      }
      if (!k.fn) {
        whyNotPipelined = "the pipelined schedule needs V a multiple of 16 and keys in whole 16-byte pieces per "
                          "thread";
        continue;
      }
      if (k.sharedBytes > kMaxSharedBytes) {
        if (kind == 0)
          whyNotPipelined = "the pipelined schedule (double-buffered chunk operands) needs " +
                            std::to_string(k.sharedBytes) + " bytes of shared memory at value tile " +
                            std::to_string(t) + " and K = " + std::to_string(rec.getKeyDim());
        k.fn->erase();
        continue;
      }
      if (t != VT)
        k.fn->setAttr("delta.value_tile_note", StringAttr::get(ctx, whyHalved + "; halved to " + std::to_string(t)));
      if (kind > 0)
        k.fn->setAttr("delta.schedule_note",
                      StringAttr::get(ctx, schedule == "phased" ? std::string("--schedule=phased was given")
                                                                : whyNotPipelined));
      return k.fn;
    }
  }
  rec.emitOpError("no value tile of the chunked GPU kernel fits in shared memory at K = ") << rec.getKeyDim();
  return nullptr;
}

struct ToGPUChunkedPass : impl::DeltaToGPUChunkedBase<ToGPUChunkedPass> {
  using DeltaToGPUChunkedBase::DeltaToGPUChunkedBase;
  /// Makes `twin` (when built and fitting in shared memory, else erased)
  /// the form of `fn` for the target it names; whether it was kept.
  static bool adoptTwin(BuiltKernel twin, gpu::GPUFuncOp fn) {
    if (!twin.fn)
      return false;
    if (twin.sharedBytes > kMaxSharedBytes) {
      twin.fn->erase();
      return false;
    }
    twin.fn->setAttr("delta.twin_of", StringAttr::get(fn->getContext(), fn.getName()));
    return true;
  }
  /// The sm_90a twin of a pipelined kernel: same value tile, variant and
  /// parameters, K S and Q S by wgmma; the GPU target keeps one of the two
  /// per image.
  void addTwin(delta::RecurrenceOp rec, Operation *fn, Type io) {
    if (!wgmma || fn->getAttrOfType<StringAttr>("delta.schedule").getValue() != "pipelined")
      return;
    auto name = llvm::cast<gpu::GPUFuncOp>(fn).getName();
    int64_t VT = fn->getAttrOfType<IntegerAttr>("delta.value_tile").getInt();
    BuiltKernel twin = buildPipelinedKernel(rec, VT, (name + "__sm90a").str(),
                                            fn->getAttrOfType<StringAttr>("delta.variant").getValue(), io, true);
    if (!adoptTwin(twin, llvm::cast<gpu::GPUFuncOp>(fn)))
      return;
    for (StringRef a : {"delta.value_tile_note", "delta.schedule_note"})
      if (Attribute v = fn->getAttr(a))
        twin.fn->setAttr(a, v);
  }
  /// The split schedule's kernels, when they apply and fit in shared memory
  /// (else none): the first kernel and the scan at the compiler's value
  /// tile, V / 8, at least 16, so that at most eight blocks re-read a
  /// chunk's W, Q, K and QK (halved while the scan does not fit), and beside
  /// them a scan at twice that tile (up to 64; the workspace's U in its
  /// tiles), which the runtime takes where it needs fewer waves of blocks.
  /// A forced tile (--split-value-tile) gives that one scan only.
  bool addSplit(delta::RecurrenceOp rec, const std::string &name, Type io) {
    if (splitValueTile != -1 && splitValueTile != 16 && splitValueTile != 32 && splitValueTile != 64) {
      rec.emitOpError("the split value tile must be -1 (the compiler's choice), 0, 16, 32 or 64, got ")
          << splitValueTile;
      return false;
    }
    const int64_t V = rec.getValueDim();
    // The kernels at scan tile VT (and 2 VT when `large`); erased unless
    // all of them fit.
    auto build = [&](int64_t VT, bool large) {
      const int64_t UT = large ? 2 * VT : VT;
      SmallVector<BuiltKernel> ks = {buildSplitPrepKernel(rec, UT, name + "_split_prep", io),
                                     buildSplitScanKernel(rec, VT, UT, name + "_split", "split", io)};
      if (large)
        ks.push_back(buildSplitScanKernel(rec, UT, UT, name + "_split_large", "split_large", io));
      if (llvm::all_of(ks, [](const BuiltKernel &k) { return k.fn && k.sharedBytes <= kMaxSharedBytes; })) {
        auto sm90a = [&](BuiltKernel k, gpu::GPUFuncOp of) {
          if (!adoptTwin(k, of))
            return false;
          k.fn->setAttr("delta.target", StringAttr::get(of->getContext(), "sm_90a"));
          return true;
        };
        // The larger-tile (or only) scan's sm_90a form on warpgroups (wgmma,
        // the state transposed in a warpgroup's accumulators), where it
        // applies: by default at K = 256 (measured against the mma.sync
        // scan: B2 T16384 H16 D256 1.68 -> 1.42 ms), with --wgmma at K = 128
        // too (there the scan alone is faster, 701 -> 531 us at B1 T32768
        // H16 D128, but beside the first kernels of the segments it is held
        // by its L2 reads and the forward is 3-5% slower; bench/RESULTS.md).
        // It reads the workspace's W, Q and K in blocks of 64 columns (at K =
        // 256 a thin workspace: T, a and b in place of W and U, Q and K in
        // blocks), so then every kernel of the sm_90 image does (their
        // sm_90a twins): the sm_80 image keeps whole rows, which its mma.sync
        // scans read faster (+16% with blocks at B2 T16384 D256).
        auto wide = llvm::cast<gpu::GPUFuncOp>(ks.back().fn);
        const bool blocks = (wgmma || rec.getKeyDim() == 256) &&
                            sm90a(buildSplitScanWarpgroupKernel(rec, UT, UT, (wide.getName() + "__wg").str(),
                                                                large ? "split_large" : "split", io),
                                  wide);
        if (blocks)
          sm90a(buildSplitPrepKernel(rec, UT, name + "_split_prep__sm90a", io, false, true),
                llvm::cast<gpu::GPUFuncOp>(ks[0].fn));
        // Each other scan's sm_90a form: at K = 256 the scan on warpgroups
        // too (its blocks at a multiple of 64 value columns take 64, the
        // others return: the same sums, so segments give the bits of one
        // range; measured, B1 T32768 H16 D256 in segments 1.88 ms with the
        // tile-32 mma.sync scan on the last range, which spills reading the
        // blocks, 1.79 with this one), else its blocks in clusters of two
        // where that applies (built for sm_90a, which multicast bulk copies
        // are meant for: measured the same as plain sm_90 on the H100, B1
        // T32768 D128, without ptxas's advisory on every compile), else the
        // scan itself reading the blocks. Newer GPUs, which cannot JIT
        // sm_90a PTX, run the sm_80 PTX.
        for (BuiltKernel &k : llvm::drop_begin(ks)) {
          auto fn = llvm::cast<gpu::GPUFuncOp>(k.fn);
          if (blocks && fn == wide)
            continue;
          StringRef variant = fn->getAttrOfType<StringAttr>("delta.variant").getValue();
          int64_t t = fn->getAttrOfType<IntegerAttr>("delta.value_tile").getInt();
          if (blocks && rec.getKeyDim() == 256 &&
              sm90a(buildSplitScanWarpgroupKernel(rec, t, UT, (fn.getName() + "__wg").str(), variant, io), fn))
            continue;
          if (!sm90a(buildSplitScanKernel(rec, t, UT, (fn.getName() + "__pairs").str(), variant, io, true, blocks),
                     fn) &&
              blocks)
            sm90a(buildSplitScanKernel(rec, t, UT, (fn.getName() + "__sm90a").str(), variant, io, false, true), fn);
        }
        // Beside the larger-tile scan (segments): the first kernel's form
        // for three blocks an SM, where it has one.
        if (large && splitPrepBeside(rec, ks[0].sharedBytes)) {
          BuiltKernel beside = buildSplitPrepKernel(rec, UT, name + "_split_prep_beside", io, /*beside=*/true);
          if (blocks && beside.fn)
            sm90a(buildSplitPrepKernel(rec, UT, name + "_split_prep_beside__sm90a", io, true, true),
                  llvm::cast<gpu::GPUFuncOp>(beside.fn));
        }
        return true;
      }
      for (BuiltKernel k : ks)
        if (k.fn)
          k.fn->erase();
      return false;
    };
    int64_t VT = splitValueTile > 0 ? splitValueTile : std::clamp<int64_t>(V / 8, 16, 64);
    for (; VT >= 16; VT /= 2) {
      if (splitValueTile < 0 && 2 * VT <= 64 && V % (2 * VT) == 0 && build(VT, true))
        return true;
      if (build(VT, false))
        return true;
      if (splitValueTile > 0) {
        rec.emitWarning("the split schedule's kernels do not fit in shared memory at value tile ")
            << VT << "; the bundle has no split schedule";
        break;
      }
    }
    return true;
  }
  void runOnOperation() override {
    SmallVector<delta::RecurrenceOp> recs(getOperation().getOps<delta::RecurrenceOp>());
    for (delta::RecurrenceOp rec : recs) {
      auto tileOk = [](int64_t t) { return t == 0 || t == 16 || t == 32 || t == 64 || t == 128; };
      // (-1: the narrow tile by the compiler's choice)
      for (int64_t t : {int64_t(valueTile), narrowValueTile == -1 ? int64_t(0) : int64_t(narrowValueTile)})
        if (!tileOk(t)) {
          rec.emitOpError("value tiles of the chunked GPU kernel are 16, 32, 64 or 128, got ") << t;
          return signalPassFailure();
        }
      if (valueTile == 0) {
        rec.emitOpError("the value tile must be 16, 32, 64 or 128");
        return signalPassFailure();
      }
      if (rec.getKeyDim() % 16 || rec.getKeyDim() > kChunkedGpuMaxKeyDim) {
        rec.emitOpError("the chunked GPU kernel needs K a multiple of 16 and at most ")
            << kChunkedGpuMaxKeyDim << ", got "
            << rec.getKeyDim();
        return signalPassFailure();
      }
      std::string name = rec.getSymName().str();
      Type io = ioStorageType(rec, storage);
      if (!io)
        return signalPassFailure();
      if (schedule != "auto" && schedule != "pipelined" && schedule != "phased") {
        rec.emitOpError("the chunked GPU schedule must be auto, pipelined or phased, got '") << schedule << "'";
        return signalPassFailure();
      }
      // Value tile 128 where V needs it (else 64: the same blocks, half the
      // columns idle).
      int64_t wideTile = valueTile == 128 && rec.getValueDim() <= 64 ? 64 : valueTile;
      Operation *wide = buildFitting(rec, wideTile, name, "wide", io, schedule);
      if (!wide)
        return signalPassFailure();
      addTwin(rec, wide, io);
      // The narrow variant's tile: by default 64 beside a wide kernel at 128
      // (one block per pair fills the GPU only with about as many pairs as
      // SMs: with fewer, the runtime takes the tile of 64, one wave of
      // twice the blocks), else 16.
      const int64_t wideAt = wide->getAttrOfType<IntegerAttr>("delta.value_tile").getInt();
      const int64_t narrowTile = narrowValueTile >= 0 ? narrowValueTile : wideAt == 128 ? 64 : 16;
      if (narrowTile > 0 && narrowTile < wideAt && narrowTile < rec.getValueDim()) {
        Operation *fn = buildFitting(rec, narrowTile, name + "_narrow", "narrow", io, schedule);
        if (!fn)
          return signalPassFailure();
        addTwin(rec, fn, io);
      }
      if (splitValueTile != 0 && !addSplit(rec, name, io))
        return signalPassFailure();
      rec.erase();
    }
  }
};

} // namespace
} // namespace deltac
