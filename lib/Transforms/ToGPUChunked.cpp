//===- ToGPUChunked.cpp - delta.recurrence -> chunked GPU kernel ----------===//
//
// The chunkwise-parallel scan of MATH.md section 4 as one GPU kernel: a block
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
#include "KernelBuilder.h"
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

namespace {

constexpr int64_t kChunk = 64, kThreads = 512, kWarps = 16;
/// Dynamic shared memory one block may have on sm_90 (227 KiB).
constexpr int64_t kMaxSharedBytes = 232448;

struct Chunked {
  KernelBuilder &kb;
  OpBuilder &b;
  Location l;
  int64_t K, V;
  Value tid, warp;
  Type f16, f32;

  /// A matrix in shared memory; rows are padded (8 f16 or 4 f32 elements) so
  /// that the 16 rows a tensor-core fragment touches fall in different banks.
  struct Mat {
    Value mem;
    int64_t ld;
    bool colMajor = false; // use as its transpose
  };
  static Mat T(Mat m) {
    m.colMajor = !m.colMajor;
    return m;
  }
  Mat view(Value base, int64_t &offset, int64_t rows, int64_t cols, Type elem) {
    int64_t bytes = elem.getIntOrFloatBitWidth() / 8;
    int64_t ld = cols == 1 ? 1 : cols + 16 / bytes;
    auto ty = MemRefType::get(cols == 1 ? ArrayRef<int64_t>{rows} : ArrayRef<int64_t>{rows, ld}, elem,
                              MemRefLayoutAttrInterface(),
                              gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup));
    Value v = memref::ViewOp::create(b, l, ty, base, kb.idx(offset), ValueRange{});
    offset += (rows * ld * bytes + 127) / 128 * 128;
    return {v, ld};
  }
  void barrier() { gpu::BarrierOp::create(b, l); }
  /// for (e = tid; e < n; e += threads) body(e)
  void strided(int64_t n, const std::function<void(Value)> &body) {
    kb.loop(tid, kb.idx(n), kThreads, body);
  }
  /// What becomes of one accumulator element (row, column, value) of a
  /// product: by default it is stored to the product's `out`.
  using Epilogue = std::function<void(Value, Value, Value)>;
  struct Product {
    Mat A;
    Mat out;
    bool accumulate = false; // start from out's values instead of 0
    Epilogue epilogue = nullptr;
    Value accScale = nullptr; // those values times this
  };
  /// For each product p: p.out[oRow.., :] (f32, M x N) = p.A[aRow.., 0..Kd)
  /// (f16) * B[0..Kd, :] (f16) (+ p.out if accumulating), or p.epilogue of
  /// it, on tensor cores. Each warp takes 16 x 16 output tiles in turn; per
  /// 16-deep step the B fragment is loaded once and shared by the products,
  /// two nvgpu.mma.sync m16n8k16 per product; the operand fragments loaded by
  /// nvgpu.ldmatrix (x4; transposed for a row-major B or a column-major A),
  /// the accumulators in the m16n8 layout (lane = 4 g + t holds rows g and
  /// g + 8, columns 2t, 2t + 1).
  void matmuls(ArrayRef<Product> ps, int64_t aRow, Mat B, int64_t oRow, int64_t M, int64_t N, int64_t Kd) {
    auto a4 = VectorType::get({4, 2}, f16);
    auto c2 = VectorType::get({2, 2}, f32);
    Value lane = arith::RemUIOp::create(b, l, tid, kb.idx(32));
    Value g = arith::DivUIOp::create(b, l, lane, kb.idx(4)), t2 = kb.imul(arith::RemUIOp::create(b, l, lane, kb.idx(4)), kb.idx(2));
    Value l8 = arith::RemUIOp::create(b, l, lane, kb.idx(8));
    Value hi8 = kb.imul(arith::DivUIOp::create(b, l, lane, kb.idx(16)), kb.idx(8));
    Value q8 = kb.imul(arith::RemUIOp::create(b, l, arith::DivUIOp::create(b, l, lane, kb.idx(8)), kb.idx(2)), kb.idx(8));
    Value l16 = arith::RemUIOp::create(b, l, lane, kb.idx(16));
    int64_t tilesN = N / 16, tiles = (M / 16) * tilesN;
    kb.loop(warp, kb.idx(tiles), kWarps, [&](Value t) {
      Value ti = kb.imul(arith::DivUIOp::create(b, l, t, kb.idx(tilesN)), kb.idx(16));
      Value tj = kb.imul(arith::RemUIOp::create(b, l, t, kb.idx(tilesN)), kb.idx(16));
      Value oi = kb.iadd(ti, kb.idx(oRow)), ai = kb.iadd(ti, kb.idx(aRow));
      auto at = [&](Value r0, int64_t dr, Value c0, int64_t dc) -> SmallVector<Value, 2> {
        return {kb.iadd(r0, kb.idx(dr)), kb.iadd(c0, kb.idx(dc))};
      };
      SmallVector<std::array<Value, 2>> acc(ps.size());
      for (size_t p = 0; p < ps.size(); ++p)
        for (int h = 0; h < 2; ++h) {
          Value col = kb.iadd(tj, kb.iadd(t2, kb.idx(8 * h)));
          if (ps[p].accumulate) {
            SmallVector<Value> e;
            for (int r = 0; r < 2; ++r)
              for (int c = 0; c < 2; ++c)
                if (Value x = kb.load(ps[p].out.mem, at(kb.iadd(oi, g), 8 * r, col, c)); ps[p].accScale)
                  e.push_back(kb.mul(ps[p].accScale, x));
                else
                  e.push_back(x);
            acc[p][h] = vector::FromElementsOp::create(b, l, c2, e);
          } else {
            acc[p][h] = arith::ConstantOp::create(b, l, DenseElementsAttr::get(c2, b.getF32FloatAttr(0)));
          }
        }
      for (int64_t k0 = 0; k0 < Kd; k0 += 16) {
        Value kk = kb.idx(k0);
        // B (16 x 16 at k0, columns tj): (k 0-7 | 8-15) for n-tile tj, then tj + 8.
        Value bq = B.colMajor
                       ? nvgpu::LdMatrixOp::create(b, l, a4, B.mem, at(kb.iadd(tj, kb.iadd(l8, hi8)), 0, kb.iadd(kk, q8), 0), false, 4)
                       : nvgpu::LdMatrixOp::create(b, l, a4, B.mem, at(kb.iadd(kk, kb.iadd(l8, q8)), 0, kb.iadd(tj, hi8), 0), true, 4);
        for (size_t p = 0; p < ps.size(); ++p) {
          // A (16 x 16 at rows ai, columns k0): matrices (rows 0-7 | 8-15) x (k 0-7 | 8-15).
          // Column-major A is read from X = A^T (rows k): lanes 0-7 | 8-15 |
          // 16-23 | 24-31 address the four matrices' rows.
          Mat A = ps[p].A;
          Value a = A.colMajor
                        ? nvgpu::LdMatrixOp::create(b, l, a4, A.mem, at(kb.iadd(kk, kb.iadd(l8, hi8)), 0, kb.iadd(ai, q8), 0), true, 4)
                        : nvgpu::LdMatrixOp::create(b, l, a4, A.mem, at(kb.iadd(ai, l16), 0, kb.iadd(kk, hi8), 0), false, 4);
          for (int h = 0; h < 2; ++h) {
            Value bh = vector::ShuffleOp::create(b, l, bq, bq, ArrayRef<int64_t>{2 * h, 2 * h + 1});
            acc[p][h] = nvgpu::MmaSyncOp::create(b, l, a, bh, acc[p][h], ArrayRef<int64_t>{16, 8, 16});
          }
        }
      }
      for (size_t p = 0; p < ps.size(); ++p)
        for (int h = 0; h < 2; ++h) {
          Value col = kb.iadd(tj, kb.iadd(t2, kb.idx(8 * h)));
          for (int r = 0; r < 2; ++r)
            for (int c = 0; c < 2; ++c) {
              Value x = vector::ExtractOp::create(b, l, acc[p][h], ArrayRef<int64_t>{r, c});
              auto ij = at(kb.iadd(oi, g), 8 * r, col, c);
              if (ps[p].epilogue)
                ps[p].epilogue(ij[0], ij[1], x);
              else
                kb.store(x, ps[p].out.mem, ij);
            }
        }
    });
  }
  void syncWarp() {
    NVVM::SyncWarpOp::create(b, l, arith::ConstantIntOp::create(b, l, -1, 32));
  }
  /// x = hi + lo with hi x's top 19 bits (a tf32 value) and lo the rest, so
  /// that three tf32 products give a near-f32 result.
  std::pair<Value, Value> splitTf32(Value x) {
    auto i32 = b.getI32Type();
    Value bits = arith::BitcastOp::create(b, l, i32, x);
    Value hi = arith::BitcastOp::create(
        b, l, f32, arith::AndIOp::create(b, l, bits, arith::ConstantIntOp::create(b, l, int32_t(0xffffe000), 32)));
    return {hi, arith::SubFOp::create(b, l, x, hi)};
  }
  /// The blocked solve's off-diagonal and diagonal steps for every 8-column
  /// strip of RHS (f32, C x VT; overwritten), Delta to Dh (f16). Warp w < VT/8
  /// takes the strip at columns 8w.
  void solveStrips(Mat Lh, Mat Tinv, Mat RHS, Mat Dh, int64_t VT) {
    auto a4 = VectorType::get({4, 2}, f16), b2 = VectorType::get({2, 2}, f16);
    auto c2 = VectorType::get({2, 2}, f32), ta = VectorType::get({4, 1}, f32), tb = VectorType::get({2, 1}, f32);
    auto on = scf::IfOp::create(b, l, lt(warp, kb.idx(VT / 8)), false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(on.thenBlock());
    Value lane = arith::RemUIOp::create(b, l, tid, kb.idx(32));
    Value g = arith::DivUIOp::create(b, l, lane, kb.idx(4)), t = arith::RemUIOp::create(b, l, lane, kb.idx(4));
    Value t2 = kb.imul(t, kb.idx(2)), l16 = arith::RemUIOp::create(b, l, lane, kb.idx(16));
    Value hi8 = kb.imul(arith::DivUIOp::create(b, l, lane, kb.idx(16)), kb.idx(8));
    Value j0 = kb.imul(warp, kb.idx(8));
    auto rc = [&](int64_t r, Value dr, Value c) -> SmallVector<Value, 2> { return {kb.iadd(kb.idx(r), dr), c}; };
    for (int64_t r = 0; r < kChunk / 16; ++r) {
      const int64_t r0 = 16 * r;
      // acc (rows r0 + g, r0 + g + 8; columns j0 + 2t, + 1) = RHS_r.
      SmallVector<Value> e;
      for (int64_t h = 0; h < 2; ++h)
        for (int64_t c = 0; c < 2; ++c)
          e.push_back(kb.load(RHS.mem, rc(r0 + 8 * h, g, kb.iadd(j0, kb.iadd(t2, kb.idx(c))))));
      Value acc = vector::FromElementsOp::create(b, l, c2, e);
      for (int64_t k = 0; k < r; ++k) {
        Value a = nvgpu::LdMatrixOp::create(b, l, a4, Lh.mem, rc(r0, l16, kb.iadd(kb.idx(16 * k), hi8)), false, 4);
        Value bb = nvgpu::LdMatrixOp::create(b, l, b2, Dh.mem, rc(16 * k, l16, j0), true, 2);
        acc = nvgpu::MmaSyncOp::create(b, l, a, bb, acc, ArrayRef<int64_t>{16, 8, 16});
      }
      // Through shared memory into the B layout (row t / t + 4, column g).
      if (r > 0) {
        for (int64_t h = 0; h < 2; ++h)
          for (int64_t c = 0; c < 2; ++c)
            kb.store(vector::ExtractOp::create(b, l, acc, ArrayRef<int64_t>{h, c}), RHS.mem,
                     rc(r0 + 8 * h, g, kb.iadd(j0, kb.iadd(t2, kb.idx(c)))));
        syncWarp();
      }
      Value d = arith::ConstantOp::create(b, l, DenseElementsAttr::get(c2, b.getF32FloatAttr(0)));
      for (int64_t k = 0; k < 2; ++k) {
        Value col = kb.iadd(kb.idx(8 * k), t);
        SmallVector<Value> ah, al, bh, bl;
        for (auto [dr, dc] : {std::pair{0, 0}, {8, 0}, {0, 4}, {8, 4}}) {
          auto [h, lo] = splitTf32(kb.load(Tinv.mem, rc(r0 + dr, g, kb.iadd(col, kb.idx(dc)))));
          ah.push_back(h), al.push_back(lo);
        }
        for (int64_t dk : {0, 4}) {
          auto [h, lo] = splitTf32(kb.load(RHS.mem, rc(r0 + 8 * k + dk, t, kb.iadd(j0, g))));
          bh.push_back(h), bl.push_back(lo);
        }
        Value Ah = vector::FromElementsOp::create(b, l, ta, ah), Al = vector::FromElementsOp::create(b, l, ta, al);
        Value Bh = vector::FromElementsOp::create(b, l, tb, bh), Bl = vector::FromElementsOp::create(b, l, tb, bl);
        d = nvgpu::MmaSyncOp::create(b, l, Al, Bh, d, ArrayRef<int64_t>{16, 8, 8}, true);
        d = nvgpu::MmaSyncOp::create(b, l, Ah, Bl, d, ArrayRef<int64_t>{16, 8, 8}, true);
        d = nvgpu::MmaSyncOp::create(b, l, Ah, Bh, d, ArrayRef<int64_t>{16, 8, 8}, true);
      }
      for (int64_t h = 0; h < 2; ++h)
        for (int64_t c = 0; c < 2; ++c)
          kb.store(toF16(vector::ExtractOp::create(b, l, d, ArrayRef<int64_t>{h, c})), Dh.mem,
                   rc(r0 + 8 * h, g, kb.iadd(j0, kb.iadd(t2, kb.idx(c)))));
      syncWarp();
    }
  }
  /// body(e) for e = tid + m * threads, m = 0 .. n / threads - 1, unrolled, in
  /// two phases: every load of every element first, then every store (so the
  /// loads are in flight together); a last partial round under a guard.
  void unrolled(int64_t n, const std::function<SmallVector<Value>(Value)> &loads,
                const std::function<void(Value, ArrayRef<Value>)> &stores) {
    if (int64_t rest = n % kThreads) {
      Value e = kb.iadd(tid, kb.idx(n - rest));
      auto tail = scf::IfOp::create(b, l, lt(tid, kb.idx(rest)), false);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(tail.thenBlock());
      SmallVector<Value> v = loads(e);
      stores(e, v);
    }
    SmallVector<Value> es;
    SmallVector<SmallVector<Value>> vals;
    for (int64_t m = 0; m < n / kThreads; ++m) {
      es.push_back(kb.iadd(tid, kb.idx(m * kThreads)));
      vals.push_back(loads(es.back()));
    }
    for (size_t m = 0; m < es.size(); ++m)
      stores(es[m], vals[m]);
  }
  Value shuffleXor(Value x, int32_t offset) {
    return gpu::ShuffleOp::create(b, l, x, offset, 32, gpu::ShuffleMode::XOR).getShuffleResult();
  }
  Value toF16(Value x) { return arith::TruncFOp::create(b, l, f16, x); }
  Value select(Value c, Value x, Value y) { return arith::SelectOp::create(b, l, c, x, y); }
  Value lt(Value x, Value y) { return arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, x, y); }
  Value le(Value x, Value y) { return arith::CmpIOp::create(b, l, arith::CmpIPredicate::ule, x, y); }
};

/// Builds `@name`, one kernel of the recurrence with value tile VT (the
/// recurrence is kept); returns the kernel and its shared-memory bytes.
std::pair<Operation *, int64_t> buildChunkedGpuKernel(delta::RecurrenceOp rec, int64_t VT, StringRef name,
                                                      StringRef variant, Type io, bool prefetch) {
  KernelBuilder kb = KernelBuilder::gpu(rec, "gpu-chunked", name, io);
  OpBuilder &b = kb.builder();
  Location l = kb.loc();
  const int64_t K = kb.K(), V = kb.V(), C = kChunk;
  Chunked ck{kb, b, l, K, V, Value(), Value(), b.getF16Type(), b.getF32Type()};
  kb.function()->setAttr("delta.block_size", b.getI64IntegerAttr(kThreads));
  // Launch bound: ptxas keeps to the registers 512 threads can have.
  llvm::cast<gpu::GPUFuncOp>(kb.function()).setKnownBlockSize(ArrayRef<int32_t>{int32_t(kThreads), 1, 1});
  kb.function()->setAttr("delta.value_tile", b.getI64IntegerAttr(VT));
  kb.function()->setAttr("delta.variant", b.getStringAttr(variant));
  kb.function()->setAttr("delta.chunk_size", b.getI64IntegerAttr(C));
  Value zero = kb.idx(0), one = kb.idx(1), Vn = kb.idx(V);
  Value fzero = kb.f32(0);
  Value scale = kb.f32(llvm::cast<FloatAttr>(kb.attr("delta.scale")).getValueAsDouble());
  ck.tid = gpu::ThreadIdOp::create(b, l, gpu::Dimension::x);
  ck.warp = arith::DivUIOp::create(b, l, ck.tid, kb.idx(32));
  Value v0 = kb.imul(gpu::BlockIdOp::create(b, l, gpu::Dimension::y), kb.idx(VT));
  Value vi = arith::DivUIOp::create(b, l, kb.imul(ck.tid, kb.idx(C * VT / kThreads)), kb.idx(VT));
  Value vj0 = arith::RemUIOp::create(b, l, kb.imul(ck.tid, kb.idx(C * VT / kThreads)), kb.idx(VT));
  bool gated = !kb.ungated();

  // Shared memory.
  auto dynTy = MemRefType::get({ShapedType::kDynamic}, b.getI8Type(), MemRefLayoutAttrInterface(),
                               gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup));
  Value smem = gpu::DynamicSharedMemoryOp::create(b, l, dynTy);
  int64_t off = 0;
  using Mat = Chunked::Mat;
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
  Mat KK = ck.view(smem, off, C, C, ck.f32);
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
    kb.store(ld.getResult(0), S.mem, {d, j});
    kb.store(ck.toF16(ld.getResult(0)), Sh.mem, {d, j});
  });
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
        Value count = ck.select(on, kb.idx(unit), zero);
        SmallVector<Value> tokens;
        for (int64_t m = 0; m < per; m += unit) {
          Value col = arith::MinUIOp::create(b, l, kb.iadd(v0, kb.iadd(j0, kb.idx(m))), kb.idx(V - unit));
          tokens.push_back(nvgpu::DeviceAsyncCopyOp::create(
              b, l, nvgpu::DeviceAsyncTokenType::get(b.getContext()), Vc.mem,
              ValueRange{i, kb.iadd(j0, kb.idx(m))}, kb.v(), ValueRange{kb.iadd(kb.imul(row, Vn), col)},
              b.getIndexAttr(unit), count, unit * ioBytes == 16 ? b.getUnitAttr() : UnitAttr()));
        }
        vGroup = nvgpu::DeviceAsyncCreateGroupOp::create(b, l, nvgpu::DeviceAsyncTokenType::get(b.getContext()),
                                                         tokens);
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
      Value lam = fzero;
      for (Value kd : ks)
        lam = kb.add(lam, kb.mul(kd, kd));
      for (int32_t o : {4, 2, 1})
        lam = kb.add(lam, ck.shuffleXor(lam, o));
      Value rs = kb.f32(1);
      if (rec.getKeyNorm() == delta::KeyNorm::l2) {
        rs = arith::DivFOp::create(b, l, kb.f32(1), math::SqrtOp::create(b, l, kb.add(lam, kb.f32(1e-6))));
        lam = kb.mul(lam, kb.mul(rs, rs));
      }
      Value keep = ck.select(live, rs, fzero), qkeep = ck.select(live, kb.f32(1), fzero);
      for (int64_t d = 0; d < K / 8; ++d) {
        Value col = kb.iadd(d0, kb.idx(d));
        kb.store(ck.toF16(kb.mul(ks[d], keep)), Kh.mem, {i, col});
        kb.store(ck.toF16(kb.mul(qs[d], qkeep)), Qh.mem, {i, col});
      }
      auto first = scf::IfOp::create(b, l, arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, part, zero), false);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(first.thenBlock());
      auto on = scf::IfOp::create(b, l, live, true);
      b.setInsertionPointToStart(on.thenBlock());
      TokenCoefficients co = kb.coefficients(row, lam);
      kb.store(co.a, A, i);
      kb.store(co.b, Bc, i);
      kb.store(gated ? Value(math::LogOp::create(b, l, co.g)) : fzero, LG, i);
      b.setInsertionPointToStart(on.elseBlock());
      for (Value m : {A, Bc, LG})
        kb.store(fzero, m, i);
    }
    ck.barrier();
    if (prefetch) // the next chunk's keys and queries, overlapping this one
      stageKeys(kb.iadd(c0, kb.idx(C)));
    if (gated) { // cumulative log G: an inclusive scan over the chunk in warp 0
      auto w0 = scf::IfOp::create(b, l, ck.lt(ck.tid, kb.idx(32)), false);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(w0.thenBlock());
      static_assert(kChunk == 64, "two tokens per lane");
      Value i0 = kb.imul(ck.tid, kb.idx(2)), i1 = kb.iadd(i0, one);
      Value x0 = kb.load(LG, i0), x1 = kb.add(x0, kb.load(LG, i1));
      Value lane = arith::IndexCastOp::create(b, l, b.getI32Type(), ck.tid);
      Value sum = x1;
      for (int32_t o : {1, 2, 4, 8, 16}) {
        Value up = gpu::ShuffleOp::create(b, l, sum, o, 32, gpu::ShuffleMode::UP).getShuffleResult();
        Value has = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, lane,
                                          arith::ConstantIntOp::create(b, l, o, 32));
        sum = kb.add(sum, ck.select(has, up, fzero));
      }
      Value before = kb.sub(sum, x1);
      kb.store(kb.add(before, x0), LG, i0);
      kb.store(sum, LG, i1);
    }
    ck.barrier();
    // Tensor cores, the masks and decay weights applied as the products
    // leave the accumulators: L = diag(a) (Gamma o StrictTril(K K^T)) (f32
    // for the inverses, -L in f16), QK = Gamma o Tril(Q K^T) (f16); then
    // RHS = diag(b) V - diag(a G) K S0 and QS = diag(G) Q S0 (f32).
    auto ratio = [&](Value i, Value j) {
      return gated ? kb.exp(kb.sub(kb.load(LG, i), kb.load(LG, j))) : kb.f32(1);
    };
    ck.matmuls({{Kh, KK, false,
                 [&](Value i, Value j, Value x) {
                   Value lower = ck.select(ck.lt(j, i), kb.mul(kb.load(A, i), kb.mul(ratio(i, j), x)), fzero);
                   kb.store(lower, KK.mem, {i, j});
                   kb.store(ck.toF16(arith::NegFOp::create(b, l, lower)), Lh.mem, {i, j});
                 }},
                {Qh, QKh, false,
                 [&](Value i, Value j, Value x) {
                   kb.store(ck.toF16(ck.select(ck.le(j, i), kb.mul(ratio(i, j), x), fzero)), QKh.mem, {i, j});
                 }}},
               0, Chunked::T(Kh), 0, C, C, K);
    if (vGroup) { // every thread's copies done, then visible to all
      // (not the next chunk's keys, the group committed after the values)
      nvgpu::DeviceAsyncWaitOp::create(b, l, vGroup, b.getI32IntegerAttr(prefetch ? 1 : 0));
      ck.barrier();
    }
    auto gain = [&](Value i) { return gated ? kb.exp(kb.load(LG, i)) : kb.f32(1); };
    Chunked::Epilogue scaleQS = nullptr;
    if (gated)
      scaleQS = [&](Value i, Value j, Value x) { kb.store(kb.mul(gain(i), x), QS.mem, {i, j}); };
    ck.matmuls({{Kh, KS, false,
                 [&](Value i, Value j, Value x) {
                   Value rhs = kb.sub(kb.mul(kb.load(Bc, i), kb.loadIO(Vc.mem, {i, j})),
                                      kb.mul(kb.mul(kb.load(A, i), gain(i)), x));
                   kb.store(rhs, KS.mem, {i, j});
                 }},
                {Qh, QS, false, scaleQS}},
               0, Sh, 0, C, VT, K);
    ck.barrier();
    // Delta = (I + L)^{-1} RHS, blocked by 16 rows. First the inverses of the
    // four unit lower-triangular 16 x 16 diagonal blocks, in f32, one warp per
    // block: lane (h, j) holds rows 8h .. 8h+7 of column j and substitutes
    // forward, row k's final value broadcast by a shuffle at step k (L is
    // strictly lower, so rows at or above k are left unchanged).
    auto inv = scf::IfOp::create(b, l, ck.lt(ck.tid, kb.idx(32 * (C / 16))), false);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(inv.thenBlock());
      Value r0 = kb.imul(ck.warp, kb.idx(16));
      Value lane = arith::RemUIOp::create(b, l, ck.tid, kb.idx(32));
      Value j = arith::RemUIOp::create(b, l, lane, kb.idx(16));
      Value h8 = kb.imul(arith::DivUIOp::create(b, l, lane, kb.idx(16)), kb.idx(8));
      Value j32 = arith::IndexCastOp::create(b, l, b.getI32Type(), j);
      SmallVector<Value> x;
      for (int64_t m = 0; m < 8; ++m) {
        Value diag = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, kb.iadd(h8, kb.idx(m)), j);
        x.push_back(ck.select(diag, kb.f32(1), fzero));
      }
      for (int64_t k = 0; k < 15; ++k) {
        // Row k lives in lane (k / 8) * 16 + j, slot k % 8.
        Value src = arith::AddIOp::create(b, l, j32, arith::ConstantIntOp::create(b, l, (k / 8) * 16, 32));
        Value xk = gpu::ShuffleOp::create(b, l, x[k % 8], src, arith::ConstantIntOp::create(b, l, 32, 32),
                                          gpu::ShuffleMode::IDX)
                       .getShuffleResult();
        for (int64_t m = 0; m < 8; ++m) {
          Value lik = kb.load(KK.mem, {kb.iadd(r0, kb.iadd(h8, kb.idx(m))), kb.iadd(r0, kb.idx(k))});
          x[m] = kb.sub(x[m], kb.mul(lik, xk));
        }
      }
      for (int64_t m = 0; m < 8; ++m)
        kb.store(x[m], Tinv.mem, {kb.iadd(r0, kb.iadd(h8, kb.idx(m))), j});
    }
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
    if (asyncV) {
      Value i = vi, j0 = vj0;
      Value live = arith::AndIOp::create(b, l, ck.lt(i, n), ck.lt(kb.iadd(v0, j0), Vn));
      auto st = scf::IfOp::create(b, l, live, false);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(st.thenBlock());
      Value row = kb.tokenRow(kb.iadd(c0, i));
      for (int64_t m = 0; m < per; m += unit) {
        SmallVector<Value> xs;
        for (int64_t u = 0; u < unit; ++u)
          xs.push_back(kb.mul(scale, kb.load(QS.mem, {i, kb.iadd(j0, kb.idx(m + u))})));
        Value vec = vector::FromElementsOp::create(b, l, VectorType::get({unit}, ck.f32), xs);
        if (!kb.ioType().isF32())
          vec = arith::TruncFOp::create(b, l, VectorType::get({unit}, kb.ioType()), vec);
        vector::StoreOp::create(b, l, vec, kb.o(), ValueRange{kb.iadd(kb.imul(row, Vn), kb.iadd(v0, kb.iadd(j0, kb.idx(m))))},
                                false, llvm::MaybeAlign(unit * ioBytes));
      }
    } else {
      ck.strided(C * VT, [&](Value e) {
        Value i = arith::DivUIOp::create(b, l, e, kb.idx(VT)), j = arith::RemUIOp::create(b, l, e, kb.idx(VT));
        Value live = arith::AndIOp::create(b, l, ck.lt(i, n), ck.lt(kb.iadd(v0, j), Vn));
        auto st = scf::IfOp::create(b, l, live, false);
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPointToStart(st.thenBlock());
        Value row = kb.tokenRow(kb.iadd(c0, i));
        kb.storeIO(kb.mul(scale, kb.load(QS.mem, {i, j})), kb.o(), kb.iadd(kb.imul(row, Vn), kb.iadd(v0, j)));
      });
    }
    ck.barrier();
  });
  if (prefetch) // the last chunk's (zero-filled) prefetch lands before exit
    waitAll();
  // ht = the state tile.
  ck.strided(K * VT, [&](Value e) {
    Value d = arith::DivUIOp::create(b, l, e, kb.idx(VT)), j = arith::RemUIOp::create(b, l, e, kb.idx(VT));
    Value col = kb.iadd(v0, j);
    auto st = scf::IfOp::create(b, l, ck.lt(col, Vn), false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(st.thenBlock());
    kb.store(kb.load(S.mem, {d, j}), kb.ht(), kb.iadd(kb.state(), kb.iadd(kb.imul(d, Vn), col)));
  });
  kb.function()->setAttr("delta.shared_bytes", b.getI64IntegerAttr(sharedBytes));
  kb.finish(false);
  return {kb.function(), sharedBytes};
}

/// The widest value tile from `VT` down (halving, at least 16) whose kernel
/// fits in a block's shared memory; the kernel built with it, or null.
Operation *buildFitting(delta::RecurrenceOp rec, int64_t VT, StringRef name, StringRef variant, Type io) {
  for (int64_t t = VT; t >= 16; t /= 2) {
    for (bool prefetch : {true, false}) { // a wider tile before the prefetch
      auto [fn, bytes] = buildChunkedGpuKernel(rec, t, name, variant, io, prefetch);
      if (bytes > kMaxSharedBytes) {
        fn->erase();
        continue;
      }
      if (t != VT)
        fn->setAttr("delta.value_tile_note",
                    StringAttr::get(rec.getContext(), "value tile " + std::to_string(VT) + " needs more than " +
                                                          std::to_string(kMaxSharedBytes) +
                                                          " bytes of shared memory at K = " +
                                                          std::to_string(rec.getKeyDim()) + "; halved to " +
                                                          std::to_string(t)));
      return fn;
    }
  }
  rec.emitOpError("no value tile of the chunked GPU kernel fits in shared memory at K = ") << rec.getKeyDim();
  return nullptr;
}

struct ToGPUChunkedPass : impl::DeltaToGPUChunkedBase<ToGPUChunkedPass> {
  using DeltaToGPUChunkedBase::DeltaToGPUChunkedBase;
  void runOnOperation() override {
    SmallVector<delta::RecurrenceOp> recs(getOperation().getOps<delta::RecurrenceOp>());
    for (delta::RecurrenceOp rec : recs) {
      for (int64_t t : {int64_t(valueTile), int64_t(narrowValueTile)})
        if (t != 0 && t != 16 && t != 32 && t != 64) {
          rec.emitOpError("value tiles of the chunked GPU kernel are 16, 32 or 64, got ") << t;
          return signalPassFailure();
        }
      if (valueTile == 0) {
        rec.emitOpError("the value tile must be 16, 32 or 64");
        return signalPassFailure();
      }
      if (rec.getKeyDim() % 16 || rec.getKeyDim() > kChunkedGpuMaxKeyDim) {
        rec.emitOpError("the chunked GPU kernel needs K a multiple of 16 and at most ")
            << kChunkedGpuMaxKeyDim << ", got "
            << rec.getKeyDim();
        return signalPassFailure();
      }
      std::string name = rec.getSymName().str();
      bool narrow = narrowValueTile > 0 && narrowValueTile < valueTile && narrowValueTile < rec.getValueDim();
      Type io = ioStorageType(rec, storage);
      if (!io)
        return signalPassFailure();
      Operation *wide = buildFitting(rec, valueTile, name, "wide", io);
      if (!wide)
        return signalPassFailure();
      narrow = narrow && narrowValueTile < wide->getAttrOfType<IntegerAttr>("delta.value_tile").getInt();
      if (narrow && !buildFitting(rec, narrowValueTile, name + "_narrow", "narrow", io))
        return signalPassFailure();
      rec.erase();
    }
  }
};

} // namespace
} // namespace deltac
