//===- ToGPUChunked.cpp - delta.recurrence -> chunked GPU kernel ----------===//
//
// The chunkwise-parallel scan of MATH.md section 4 as one GPU kernel: a block
// of 16 warps per (sequence, head) pair and 64-column value tile walks the
// pair's chunks of C = 64 tokens with the state tile (K x 64, f32) in shared
// memory. Per chunk:
//
//   prologue   one thread per token: lam, L2 scale, (g, a, b), log g; then the
//              cumulative log G (one thread)
//   load       K, Q (f16, K also transposed) and V (f32) into shared memory
//   tensor     KK = K K^T, QK = Q K^T, KS = K S0, QS = Q S0 on tensor cores
//   cores      (16x16x16 f16 fragments, f32 accumulation)
//   masks      L = diag(a) (Gamma o StrictTril(KK)); QK <- Gamma o Tril(QK);
//              RHS = diag(b) V - diag(a G) KS; QS <- diag(G) QS
//   solve      Delta = (I + L)^{-1} RHS, one thread per value column
//   tensor     O = QS + QK Delta;  S = G_C S + (K^T diag(G_C / G)) Delta
//   cores
//   store      o = scale O; the state's f16 copy for the next chunk
//
// All of it lives in dynamic shared memory (the manifest records the size).
//
//===----------------------------------------------------------------------===//
#include "KernelBuilder.h"
#include "deltac/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;

namespace deltac {

#define GEN_PASS_DEF_DELTATOGPUCHUNKED
#include "deltac/Transforms/Passes.h.inc"

namespace {

constexpr int64_t kChunk = 64, kTile = 64, kThreads = 512, kWarps = 16;

struct Chunked {
  KernelBuilder &kb;
  OpBuilder &b;
  Location l;
  int64_t K, V;
  Value tid, warp;
  Type f16, f32;

  Value view(Value base, int64_t &offset, ArrayRef<int64_t> shape, Type elem) {
    auto ty = MemRefType::get(shape, elem, MemRefLayoutAttrInterface(),
                              gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup));
    Value v = memref::ViewOp::create(b, l, ty, base, kb.idx(offset), ValueRange{});
    int64_t bytes = elem.getIntOrFloatBitWidth() / 8;
    for (int64_t s : shape)
      bytes *= s;
    offset += (bytes + 127) / 128 * 128;
    return v;
  }
  void barrier() { gpu::BarrierOp::create(b, l); }
  /// for (e = tid; e < n; e += threads) body(e)
  void strided(int64_t n, const std::function<void(Value)> &body) {
    kb.loop(tid, kb.idx(n), kThreads, body);
  }
  /// out[M x N] (f32) = A[M x Kd] (f16) * B[Kd x N] (f16) (+ out if accumulate),
  /// 16 x 16 tiles spread over the warps.
  void matmul(Value A, Value B, Value out, int64_t M, int64_t N, int64_t Kd, bool accumulate) {
    auto aTy = gpu::MMAMatrixType::get({16, 16}, f16, "AOp");
    auto bTy = gpu::MMAMatrixType::get({16, 16}, f16, "BOp");
    auto cTy = gpu::MMAMatrixType::get({16, 16}, f32, "COp");
    auto ld = [&](int64_t n) { return b.getIndexAttr(n); };
    int64_t tilesN = N / 16, tiles = (M / 16) * tilesN;
    kb.loop(warp, kb.idx(tiles), kWarps, [&](Value t) {
      Value ti = kb.imul(arith::DivUIOp::create(b, l, t, kb.idx(tilesN)), kb.idx(16));
      Value tj = kb.imul(arith::RemUIOp::create(b, l, t, kb.idx(tilesN)), kb.idx(16));
      Value acc = accumulate
                      ? Value(gpu::SubgroupMmaLoadMatrixOp::create(b, l, cTy, out, ValueRange{ti, tj},
                                                                   ld(N), UnitAttr()))
                      : Value(gpu::SubgroupMmaConstantMatrixOp::create(b, l, cTy, kb.f32(0)));
      for (int64_t k0 = 0; k0 < Kd; k0 += 16) {
        Value a = gpu::SubgroupMmaLoadMatrixOp::create(b, l, aTy, A, ValueRange{ti, kb.idx(k0)},
                                                      ld(Kd), UnitAttr());
        Value bb = gpu::SubgroupMmaLoadMatrixOp::create(b, l, bTy, B, ValueRange{kb.idx(k0), tj},
                                                       ld(N), UnitAttr());
        acc = gpu::SubgroupMmaComputeOp::create(b, l, cTy, a, bb, acc, UnitAttr(), UnitAttr());
      }
      gpu::SubgroupMmaStoreMatrixOp::create(b, l, acc, out, ValueRange{ti, tj}, ld(N), UnitAttr());
    });
  }
  Value toF16(Value x) { return arith::TruncFOp::create(b, l, f16, x); }
  Value select(Value c, Value x, Value y) { return arith::SelectOp::create(b, l, c, x, y); }
  Value lt(Value x, Value y) { return arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, x, y); }
  Value le(Value x, Value y) { return arith::CmpIOp::create(b, l, arith::CmpIPredicate::ule, x, y); }
};

int64_t buildChunkedGpuKernel(delta::RecurrenceOp rec) {
  KernelBuilder kb = KernelBuilder::gpu(rec, "gpu-chunked");
  OpBuilder &b = kb.builder();
  Location l = kb.loc();
  const int64_t K = kb.K(), V = kb.V(), C = kChunk, VT = kTile;
  Chunked ck{kb, b, l, K, V, Value(), Value(), b.getF16Type(), b.getF32Type()};
  kb.function()->setAttr("delta.block_size", b.getI64IntegerAttr(kThreads));
  kb.function()->setAttr("delta.value_tile", b.getI64IntegerAttr(VT));
  kb.function()->setAttr("delta.chunk_size", b.getI64IntegerAttr(C));
  Value zero = kb.idx(0), one = kb.idx(1), Vn = kb.idx(V);
  Value fzero = kb.f32(0);
  Value scale = kb.f32(llvm::cast<FloatAttr>(kb.attr("delta.scale")).getValueAsDouble());
  ck.tid = gpu::ThreadIdOp::create(b, l, gpu::Dimension::x);
  ck.warp = arith::DivUIOp::create(b, l, ck.tid, kb.idx(32));
  Value v0 = kb.imul(gpu::BlockIdOp::create(b, l, gpu::Dimension::y), kb.idx(VT));
  bool gated = !kb.ungated();

  // Shared memory.
  auto dynTy = MemRefType::get({ShapedType::kDynamic}, b.getI8Type(), MemRefLayoutAttrInterface(),
                               gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup));
  Value smem = gpu::DynamicSharedMemoryOp::create(b, l, dynTy);
  int64_t off = 0;
  Value S = ck.view(smem, off, {K, VT}, ck.f32), Sh = ck.view(smem, off, {K, VT}, ck.f16);
  Value Kh = ck.view(smem, off, {C, K}, ck.f16), KhT = ck.view(smem, off, {K, C}, ck.f16);
  Value Qh = ck.view(smem, off, {C, K}, ck.f16), Vc = ck.view(smem, off, {C, VT}, ck.f32);
  Value KK = ck.view(smem, off, {C, C}, ck.f32), QKf = ck.view(smem, off, {C, C}, ck.f32);
  Value QKh = ck.view(smem, off, {C, C}, ck.f16), KS = ck.view(smem, off, {C, VT}, ck.f32);
  Value QS = ck.view(smem, off, {C, VT}, ck.f32), Dh = ck.view(smem, off, {C, VT}, ck.f16);
  Value A = ck.view(smem, off, {C}, ck.f32), Bc = ck.view(smem, off, {C}, ck.f32);
  Value LG = ck.view(smem, off, {C}, ck.f32), RS = ck.view(smem, off, {C}, ck.f32);
  const int64_t sharedBytes = off;

  // The state tile from h0 (or 0), and its f16 copy.
  Value use = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, kb.useH0(), zero);
  ck.strided(K * VT, [&](Value e) {
    Value d = arith::DivUIOp::create(b, l, e, kb.idx(VT)), j = arith::RemUIOp::create(b, l, e, kb.idx(VT));
    Value col = kb.iadd(v0, j);
    Value inV = ck.lt(col, Vn);
    auto ld = scf::IfOp::create(b, l, TypeRange{ck.f32}, arith::AndIOp::create(b, l, use, inV), true);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(ld.thenBlock());
      scf::YieldOp::create(b, l, kb.load(kb.h0(), kb.iadd(kb.state(), kb.iadd(kb.imul(d, Vn), col))));
      b.setInsertionPointToStart(ld.elseBlock());
      scf::YieldOp::create(b, l, fzero);
    }
    kb.store(ld.getResult(0), S, {d, j});
    kb.store(ck.toF16(ld.getResult(0)), Sh, {d, j});
  });
  ck.barrier();

  kb.loop(zero, kb.len(), C, [&](Value c0) {
    Value n = arith::MinSIOp::create(b, l, kb.idx(C), arith::SubIOp::create(b, l, kb.len(), c0));
    // Prologue: one thread per token.
    auto pro = scf::IfOp::create(b, l, ck.lt(ck.tid, kb.idx(C)), false);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(pro.thenBlock());
      Value i = ck.tid;
      auto live = scf::IfOp::create(b, l, ck.lt(i, n), true);
      b.setInsertionPointToStart(live.thenBlock());
      Value row = kb.tokenRow(kb.iadd(c0, i));
      Value base = kb.imul(row, kb.idx(K));
      Value lam = kb.reduce(zero, kb.idx(K), fzero, [&](Value d, Value acc) {
        Value kd = kb.load(kb.k(), kb.iadd(base, d));
        return kb.add(acc, kb.mul(kd, kd));
      });
      Value rs = kb.f32(1);
      if (rec.getKeyNorm() == delta::KeyNorm::l2) {
        rs = arith::DivFOp::create(b, l, kb.f32(1), math::SqrtOp::create(b, l, kb.add(lam, kb.f32(1e-6))));
        lam = kb.mul(lam, kb.mul(rs, rs));
      }
      TokenCoefficients co = kb.coefficients(row, lam);
      kb.store(co.a, A, i);
      kb.store(co.b, Bc, i);
      kb.store(rs, RS, i);
      kb.store(gated ? Value(math::LogOp::create(b, l, co.g)) : fzero, LG, i);
      b.setInsertionPointToStart(live.elseBlock());
      for (Value m : {A, Bc, RS, LG})
        kb.store(fzero, m, i);
    }
    ck.barrier();
    if (gated) { // cumulative log G, one thread
      auto first = scf::IfOp::create(b, l, arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, ck.tid, zero), false);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(first.thenBlock());
      kb.reduce(zero, kb.idx(C), fzero, [&](Value i, Value acc) {
        Value s = kb.add(acc, kb.load(LG, i));
        kb.store(s, LG, i);
        return s;
      });
    }
    // Keys (scaled, f16, and transposed), queries, values of the chunk.
    ck.strided(C * K, [&](Value e) {
      Value i = arith::DivUIOp::create(b, l, e, kb.idx(K)), d = arith::RemUIOp::create(b, l, e, kb.idx(K));
      Value live = ck.lt(i, n);
      Value row = kb.tokenRow(kb.iadd(c0, arith::MinUIOp::create(b, l, i, arith::SubIOp::create(b, l, n, one))));
      Value at = kb.iadd(kb.imul(row, kb.idx(K)), d);
      Value kd = ck.select(live, kb.mul(kb.load(kb.k(), at), kb.load(RS, i)), fzero);
      Value qd = ck.select(live, kb.load(kb.q(), at), fzero);
      kb.store(ck.toF16(kd), Kh, {i, d});
      kb.store(ck.toF16(kd), KhT, {d, i});
      kb.store(ck.toF16(qd), Qh, {i, d});
    });
    ck.strided(C * VT, [&](Value e) {
      Value i = arith::DivUIOp::create(b, l, e, kb.idx(VT)), j = arith::RemUIOp::create(b, l, e, kb.idx(VT));
      Value live = arith::AndIOp::create(b, l, ck.lt(i, n), ck.lt(kb.iadd(v0, j), Vn));
      auto ld = scf::IfOp::create(b, l, TypeRange{ck.f32}, live, true);
      {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPointToStart(ld.thenBlock());
        Value row = kb.tokenRow(kb.iadd(c0, i));
        scf::YieldOp::create(b, l, kb.load(kb.v(), kb.iadd(kb.imul(row, Vn), kb.iadd(v0, j))));
        b.setInsertionPointToStart(ld.elseBlock());
        scf::YieldOp::create(b, l, fzero);
      }
      kb.store(ld.getResult(0), Vc, {i, j});
    });
    ck.barrier();
    // Tensor cores: KK = K K^T, QK = Q K^T, KS = K S0, QS = Q S0.
    ck.matmul(Kh, KhT, KK, C, C, K, false);
    ck.matmul(Qh, KhT, QKf, C, C, K, false);
    ck.matmul(Kh, Sh, KS, C, VT, K, false);
    ck.matmul(Qh, Sh, QS, C, VT, K, false);
    ck.barrier();
    // Masks and decay weights.
    ck.strided(C * C, [&](Value e) {
      Value i = arith::DivUIOp::create(b, l, e, kb.idx(C)), j = arith::RemUIOp::create(b, l, e, kb.idx(C));
      Value ratio = gated ? kb.exp(kb.sub(kb.load(LG, i), kb.load(LG, j))) : kb.f32(1);
      Value lij = kb.mul(kb.load(A, i), kb.mul(ratio, kb.load(KK, {i, j})));
      kb.store(ck.select(ck.lt(j, i), lij, fzero), KK, {i, j});
      Value qk = kb.mul(ratio, kb.load(QKf, {i, j}));
      kb.store(ck.toF16(ck.select(ck.le(j, i), qk, fzero)), QKh, {i, j});
    });
    ck.strided(C * VT, [&](Value e) {
      Value i = arith::DivUIOp::create(b, l, e, kb.idx(VT)), j = arith::RemUIOp::create(b, l, e, kb.idx(VT));
      Value gi = gated ? kb.exp(kb.load(LG, i)) : kb.f32(1);
      Value rhs = kb.sub(kb.mul(kb.load(Bc, i), kb.load(Vc, {i, j})),
                         kb.mul(kb.mul(kb.load(A, i), gi), kb.load(KS, {i, j})));
      kb.store(rhs, KS, {i, j});
      if (gated)
        kb.store(kb.mul(gi, kb.load(QS, {i, j})), QS, {i, j});
    });
    ck.barrier();
    // Delta = (I + L)^{-1} RHS: forward substitution, one thread per column.
    auto solve = scf::IfOp::create(b, l, ck.lt(ck.tid, kb.idx(VT)), false);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(solve.thenBlock());
      Value j = ck.tid;
      kb.loop(zero, kb.idx(C), 1, [&](Value i) {
        Value d = kb.reduce(zero, i, kb.load(KS, {i, j}), [&](Value jj, Value acc) {
          return kb.sub(acc, kb.mul(kb.load(KK, {i, jj}), kb.load(KS, {jj, j})));
        });
        kb.store(d, KS, {i, j});
        kb.store(ck.toF16(d), Dh, {i, j});
      });
    }
    // The state's decay and the keys' weights G_C / G_i for the update.
    Value gc = gated ? kb.exp(kb.load(LG, kb.idx(C - 1))) : Value();
    if (gated) {
      ck.strided(K * VT, [&](Value e) {
        Value d = arith::DivUIOp::create(b, l, e, kb.idx(VT)), j = arith::RemUIOp::create(b, l, e, kb.idx(VT));
        kb.store(kb.mul(gc, kb.load(S, {d, j})), S, {d, j});
      });
      ck.strided(K * C, [&](Value e) {
        Value d = arith::DivUIOp::create(b, l, e, kb.idx(C)), i = arith::RemUIOp::create(b, l, e, kb.idx(C));
        Value w = kb.exp(kb.sub(kb.load(LG, kb.idx(C - 1)), kb.load(LG, i)));
        Value kv = arith::ExtFOp::create(b, l, ck.f32, kb.load(KhT, {d, i}));
        kb.store(ck.toF16(kb.mul(w, kv)), KhT, {d, i});
      });
    }
    ck.barrier();
    // Tensor cores: O = QS + QK Delta; S = G_C S + (K^T diag(w)) Delta.
    ck.matmul(QKh, Dh, QS, C, VT, C, true);
    ck.matmul(KhT, Dh, S, K, VT, C, true);
    ck.barrier();
    // Outputs, and the f16 state for the next chunk.
    ck.strided(C * VT, [&](Value e) {
      Value i = arith::DivUIOp::create(b, l, e, kb.idx(VT)), j = arith::RemUIOp::create(b, l, e, kb.idx(VT));
      Value live = arith::AndIOp::create(b, l, ck.lt(i, n), ck.lt(kb.iadd(v0, j), Vn));
      auto st = scf::IfOp::create(b, l, live, false);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(st.thenBlock());
      Value row = kb.tokenRow(kb.iadd(c0, i));
      kb.store(kb.mul(scale, kb.load(QS, {i, j})), kb.o(), kb.iadd(kb.imul(row, Vn), kb.iadd(v0, j)));
    });
    ck.strided(K * VT, [&](Value e) {
      Value d = arith::DivUIOp::create(b, l, e, kb.idx(VT)), j = arith::RemUIOp::create(b, l, e, kb.idx(VT));
      kb.store(ck.toF16(kb.load(S, {d, j})), Sh, {d, j});
    });
    ck.barrier();
  });
  // ht = the state tile.
  ck.strided(K * VT, [&](Value e) {
    Value d = arith::DivUIOp::create(b, l, e, kb.idx(VT)), j = arith::RemUIOp::create(b, l, e, kb.idx(VT));
    Value col = kb.iadd(v0, j);
    auto st = scf::IfOp::create(b, l, ck.lt(col, Vn), false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(st.thenBlock());
    kb.store(kb.load(S, {d, j}), kb.ht(), kb.iadd(kb.state(), kb.iadd(kb.imul(d, Vn), col)));
  });
  kb.function()->setAttr("delta.shared_bytes", b.getI64IntegerAttr(sharedBytes));
  kb.finish();
  return sharedBytes;
}

struct ToGPUChunkedPass : impl::DeltaToGPUChunkedBase<ToGPUChunkedPass> {
  void runOnOperation() override {
    SmallVector<delta::RecurrenceOp> recs(getOperation().getOps<delta::RecurrenceOp>());
    for (delta::RecurrenceOp rec : recs) {
      if (rec.getKeyDim() % 16 || rec.getKeyDim() > 128) {
        rec.emitOpError("the chunked GPU kernel needs K a multiple of 16 and at most 128, got ")
            << rec.getKeyDim();
        return signalPassFailure();
      }
      buildChunkedGpuKernel(rec);
    }
  }
};

} // namespace
} // namespace deltac
