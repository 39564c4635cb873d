//===- ToGPUSplit.cpp - the split schedule of the chunked scan ------------===//
//
// The chunked scan of MATH.md section 4 as two kernels, for problems with
// few (sequence, head) pairs, where one block per pair and value tile leaves
// the GPU idle and repeats the state-independent work per value tile:
//
//   @<name>_prep   one block per (pair, chunk), all chunks at once: the
//                  prologue, K K^T and Q K^T with their masks, the diagonal
//                  inverses and two blocked solves, writing per token row
//                  to an f16 workspace
//                    W  = (I + L)^{-1} diag(a G) K      (K columns)
//                    U  = (I + L)^{-1} diag(b) V        (V columns)
//                    QK = Gamma o Tril(Q K^T)            (C columns)
//                    K, Q as the products use them       (K columns each)
//                  and the cumulative log G (in the padding of W's row);
//   @<name>        one block per (pair, value tile) walking the chunks with
//                  the state's tiles in the warps' registers (their f16 copy
//                  in shared memory for the products), two phases per chunk:
//                    Delta = U - W S,  QS = diag(G) Q S
//                    O = QS + QK Delta,  S = G_C S + K^T diag(G_C / G) Delta
//                  the next chunk's operands arriving by cp.async while
//                  the other phase computes (double buffered: all during
//                  the chunk before, the chunk after that prefetched into
//                  L2; else W, U, Q, log G during the second, K and QK
//                  during the first).
//
// The workspace holds 3 (K + 8) + C + 8 + V f16 per token row (the row of
// k; at K = 128 without the pads, W's kept when gated), laid out as struct
// Workspace says; the runtime allocates it. (At K = 256 the sm_90 image's
// first kernel writes a thin workspace instead, T = (I + L)^{-1} and the
// tokens' a and b in place of W and U, for the scan on warpgroups, which
// forms Delta from the values itself: ToGPUSplitWarpgroup.cpp.)
//
// At K = 128 the scan may run its set-up during the first kernel's last
// blocks (griddepcontrol, scanLaunchesEarly): it waits for that kernel's end
// before its first read of the workspace.
//
// Both kernels take a range of chunks (chunk_begin, chunk_end): the runtime
// may run a forward in segments, consecutive ranges, the state going through
// ht between the scans; the scans let the next kernel launch as they start,
// so that the next range's first kernel runs beside a scan.
//
//===----------------------------------------------------------------------===//
#include "ChunkedGpu.h"
#include "SplitWorkspace.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace deltac {

namespace {

using Mat = Chunked::Mat;

/// Whether the split kernels let the scan launch before the first kernel
/// ends (griddepcontrol, sm_90 on; the runtime launches the scan with
/// programmatic stream serialization where the bundle says its scans wait):
/// the scan's launch and set-up hidden behind the first kernel's last
/// blocks. At K = 128 only. (Measured, the same bundles with and without
/// the early launch, B1 T32768 H16: D128 EFLA, DeltaNet, RK4 -0.5..1% in a
/// first run, EFLA -0.8..+0.5% and DeltaNet -0.3..0.6% in a second: at most
/// about half a percent; D256 (B2 T16384) +-0.5%; D64 +1..2% in the first
/// run, +-1% in the second.)
static bool scanLaunchesEarly(delta::RecurrenceOp rec) { return rec.getKeyDim() == 128; }

/// The prep block one wave ahead in launch order (its x + y gridDim.x
/// larger by `ahead` times the number of SMs): whether there is one, its
/// pair's first token row and head, its chunk's start and live rows (n <= 0:
/// none). prefetchFuture brings the rows of q, k and v it will read into
/// L2, so that its first loads hit L2 instead of waiting on DRAM; a hint
/// only (no effect on results).
struct Lookahead {
  Value valid, bos, head, c0, n;
};
Lookahead futureBlock(Chunked &ck, int64_t ahead) {
  KernelBuilder &kb = ck.kb;
  OpBuilder &b = ck.b;
  Location l = ck.l;
  auto dim = [&](gpu::Dimension d) { return gpu::GridDimOp::create(b, l, d).getResult(); };
  auto bid = [&](gpu::Dimension d) { return gpu::BlockIdOp::create(b, l, d).getResult(); };
  Value sms = arith::IndexCastOp::create(b, l, b.getIndexType(), NVVM::SmDimOp::create(b, l, b.getI32Type()));
  Value gx = dim(gpu::Dimension::x);
  Value lin = kb.iadd(kb.iadd(bid(gpu::Dimension::x), kb.imul(bid(gpu::Dimension::y), gx)), kb.imul(sms, kb.idx(ahead)));
  Value fx = arith::RemUIOp::create(b, l, lin, gx), fy = arith::DivUIOp::create(b, l, lin, gx);
  Value valid = ck.lt(fy, dim(gpu::Dimension::y));
  // A block past the grid reads pair 0's offsets (always there) and is
  // not prefetched.
  fx = ck.select(valid, fx, kb.idx(0));
  Value seq = arith::DivUIOp::create(b, l, fx, kb.nheads()), head = arith::RemUIOp::create(b, l, fx, kb.nheads());
  auto cu = [&](Value i) {
    return arith::IndexCastOp::create(b, l, b.getIndexType(), memref::LoadOp::create(b, l, kb.cuSeqlens(), i))
        .getResult();
  };
  Value bos = cu(seq), len = arith::SubIOp::create(b, l, cu(kb.iadd(seq, kb.idx(1))), bos);
  Value c0 = kb.imul(kb.iadd(fy, kb.chunkBegin()), kb.idx(kChunk));
  Value n = arith::SubIOp::create(b, l, len, c0); // <= 0: nothing to read
  return {valid, bos, head, c0, n};
}
/// The rows of k and q (and of v with `values`) of the block a wave ahead
/// into L2.
void prefetchFuture(Chunked &ck, const Lookahead &f, int64_t K, int64_t V, bool values) {
  KernelBuilder &kb = ck.kb;
  const int64_t line = 128 * 8 / kb.ioType().getIntOrFloatBitWidth(); // elements per 128-byte line
  if (K % line || V % line)
    return;
  SmallVector<std::pair<Value, int64_t>, 3> arrays{{kb.k(), K}, {kb.q(), K}};
  if (values)
    arrays.push_back({kb.v(), V});
  ck.when(f.valid, [&] {
    for (const std::pair<Value, int64_t> &array : arrays) {
      forPieces(
          ck, array.second,
          [&](Value i, Value c) {
            ck.when(ck.lt(i, f.n), [&] {
              Value row = kb.iadd(kb.imul(kb.iadd(f.bos, kb.iadd(f.c0, i)), kb.nheads()), f.head);
              ck.prefetchL2(array.first, kb.iadd(kb.imul(row, kb.idx(array.second)), c));
            });
          },
          line);
    }
  });
}

} // namespace

bool splitPrepBeside(delta::RecurrenceOp rec, int64_t sharedBytes) {
  // (At K = 64 ptxas keeps to 40 registers a thread, three blocks an SM,
  // without being told; at K = 256 an SM holds one block.)
  return rec.getKeyDim() >= 128 && blocksPerSM(sharedBytes) >= 3;
}

BuiltKernel buildSplitPrepKernel(delta::RecurrenceOp rec, int64_t UT, StringRef name, Type io, bool beside,
                                 bool inBlocks) {
  const int64_t K = rec.getKeyDim(), V = rec.getValueDim(), C = kChunk;
  const int64_t width = 128 / io.getIntOrFloatBitWidth();
  if (V % 16 || V % UT || (K / 8) % width)
    return {};
  KernelBuilder kb = KernelBuilder::gpu(rec, "gpu-chunked", name, io, /*workspace=*/true);
  OpBuilder &b = kb.builder();
  Location l = kb.loc();
  Chunked ck{kb, b, l, K, V, Value(), Value(), b.getF16Type(), b.getF32Type()};
  const bool registerSolve = std::max(K, V) >= 128;
  const Workspace wsp = Workspace::of(rec, UT, inBlocks);
  Value smem = ck.begin(V, beside ? "split_prep_beside" : "split_prep", "split",
                        std::string("split, first kernel: one block per (pair, chunk), all chunks at once; the "
                                    "prologue, K K^T, Q K^T, the inverses and the solves for ") +
                            (wsp.thin ? "T = (I + L)^{-1} (no values read)" : "W and U") +
                            (registerSolve ? " (side by side, 16-column strips transposed in the warps' registers; "
                                             "the keys and queries stored during the products, QK during the solves)"
                                           : " (one after the other, through shared memory)") +
                            ", written to the workspace" +
                            (beside ? "; three blocks an SM (ptxas held to their registers), for the ranges of "
                                      "chunks that run beside a scan"
                                    : ""));
  // The scan may be launched (its blocks take the SMs this kernel's last
  // blocks leave, and set up) once every block of this one has started;
  // it waits for this kernel's end before it reads the workspace.
  if (scanLaunchesEarly(rec))
    NVVM::GriddepcontrolOp::create(b, l, NVVM::GridDepActionKind::launch_dependents);
  const bool gated = !kb.ungated();
  const WorkRows wr(ck, wsp);
  int64_t off = 0;
  Mat Kh = ck.view(smem, off, C, K, ck.f16), Qh = ck.view(smem, off, C, K, ck.f16);
  // The diagonal blocks' inverses in place of the blocks.
  Mat KKd = ck.view(smem, off, C, 16, ck.f32), Tinv = KKd;
  Mat Lh = ck.view(smem, off, C, C, ck.f16), QKh = ck.view(smem, off, C, C, ck.f16);
  Value A = ck.view(smem, off, C, 1, ck.f32).mem, Bc = ck.view(smem, off, C, 1, ck.f32).mem;
  Value LG = ck.view(smem, off, C, 1, ck.f32).mem;
  // From 128 columns on, the solves run in the warps' registers
  // (solveTransposed): U, and, where the values are 16-bit, the values
  // staged in its place; W in the place of the keys (the solve reads a block
  // of rows before it writes it; the keys are stored before), its rows' pad
  // holding log G. (Measured against the solves through shared memory
  // below: the prep at B1 T32768 H16 D128 428 -> 375 us, D256 (B2 T16384)
  // 912 -> 805 us. At 64 columns ptxas then takes 56-75 registers instead
  // of 40-64, fewer blocks an SM: B1 T32768 D64 EFLA +1%, gated EFLA +11%.)
  const bool f32io = kb.ioType().isF32();
  Mat Wh = Kh, Uh, Vin, RHS, Dh;
  if (wsp.thin) {
    // T solved in place of the identity.
    Wh = ck.view(smem, off, C, C, ck.f16);
  } else if (registerSolve) {
    int64_t uOff = off;
    Uh = ck.view(smem, off, C, V, ck.f16);
    Vin = f32io ? ck.view(smem, off, C, V, ck.f32) : ck.view(smem, uOff, C, V, kb.ioType());
  } else {
    // The solves through shared memory (solveStrips): the right-hand sides
    // scaled into RHS (f32), the chunk's values staged where the solves'
    // f16 results go (in RHS itself when f32) until U's right-hand side is
    // made of them.
    RHS = ck.view(smem, off, C, std::max(K, V), ck.f32);
    int64_t dOff = off;
    Dh = ck.view(smem, off, C, std::max(K, V), ck.f16);
    Vin = f32io ? RHS : ck.view(smem, dOff, C, V, kb.ioType());
  }
  const int64_t sharedBytes = off;

  // RHS (f32) = diag(rowScale) X for the chunk's C x cols matrix X (f16, f32
  // or the storage type; may be RHS itself): eight neighbouring columns of a
  // row per thread and round, every round's loads before its stores.
  auto scaleRows = [&](Mat X, int64_t cols, const std::function<Value(Value)> &rowScale) {
    const int64_t per = cols / 8;
    Type elem = llvm::cast<MemRefType>(X.mem.getType()).getElementType();
    auto vx = VectorType::get({8}, elem), vf = VectorType::get({8}, ck.f32);
    auto at = [&](Value e) { return SmallVector<Value, 2>{ck.div(e, per), kb.imul(ck.rem(e, per), kb.idx(8))}; };
    ck.unrolled(
        C * per,
        [&](Value e) -> SmallVector<Value> {
          Value x = vector::LoadOp::create(b, l, vx, X.mem, at(e), false,
                                           llvm::MaybeAlign(8 * elem.getIntOrFloatBitWidth() / 8));
          return {elem.isF32() ? x : Value(arith::ExtFOp::create(b, l, vf, x))};
        },
        [&](Value e, ArrayRef<Value> x) {
          Value s = vector::BroadcastOp::create(b, l, vf, rowScale(ck.div(e, per)));
          vector::StoreOp::create(b, l, kb.mul(s, x[0]), RHS.mem, at(e), false, llvm::MaybeAlign(16));
        });
  };

  // Where an SM holds one block at a time (by shared memory, 228 KB an SM:
  // K = 256), nothing hides a block's first loads: it prefetches those of
  // the block one wave ahead (measured at K = V = 256: -2..3%; at K = 128,
  // two blocks an SM, no gain, so none there), and its stores to the
  // workspace are marked streaming (evicted first), so that they do not push
  // those lines out of L2 before they are read (measured at B2 T16384 D256:
  // DRAM reads 1.21 -> 1.00 GB, the prep 947 -> 912 us; the lines of q, k
  // and v read are 0.81 GB). So too where the workspace is thin (K = 256,
  // sm_90a): 98 KB of shared memory, but 92 registers a thread (108 with
  // the prefetches), one block an SM; its prefetches skip the values, which
  // it does not read. Measured at B2 T16384 H16 D256 EFLA: 549 -> 513-517
  // us. (Held to 64 registers, two blocks an SM, it spills 16 bytes and is
  // no faster: 1.199 against 1.190 ms the forward.)
  const bool lookahead = blocksPerSM(sharedBytes) < 2 || wsp.thin;
  // The form for the ranges of chunks that run beside a scan (segments: on
  // the SMs the scan leaves, where it is held per SM): three blocks an SM,
  // ptxas told so (40 registers a thread; left to choose it takes 63, two
  // blocks). Measured at B1 T32768 H16 D128 in segments, all ranges in this
  // form: EFLA 0.870-0.886 -> 0.846-0.850 ms, gated DeltaNet 0.992-0.995 ->
  // 0.957-0.964, DeltaNet 0.869-0.871 -> 0.864-0.869; but where the scan is
  // launched during its last blocks (two kernels), slower: B2 T16384
  // 0.725-0.729 -> 0.765-0.766, B1 T16384 +2%, B1 T32768 +2.5% (an SM is
  // free for the scan's block only once all three have ended). So a form
  // of its own, beside the one for two blocks (splitPrepBeside says where).
  if (beside)
    kb.function()->setAttr("nvvm.minctasm", b.getI32IntegerAttr(3));
  const Lookahead future = lookahead ? futureBlock(ck, 1) : Lookahead{};
  // Block y is the launch's chunk from chunk_begin on.
  Value c0 = kb.imul(kb.iadd(gpu::BlockIdOp::create(b, l, gpu::Dimension::y), kb.chunkBegin()), kb.idx(C));
  ck.when(ck.lt(c0, kb.len()), [&] {
    Value n = liveRows(ck, c0);
    // The values by cp.async (rows past the end zero-filled) before all else.
    auto tokenTy = nvgpu::DeviceAsyncTokenType::get(b.getContext());
    if (wsp.thin) {
      // The identity, which the solve turns into T: a 16-byte piece a thread.
      Value i = ck.div(ck.tid, 8), j0 = kb.imul(ck.rem(ck.tid, 8), kb.idx(8));
      Value h1 = arith::ConstantOp::create(b, l, b.getF16FloatAttr(1.0)),
            h0 = arith::ConstantOp::create(b, l, b.getF16FloatAttr(0.0));
      SmallVector<Value> one;
      for (int64_t m = 0; m < 8; ++m)
        one.push_back(ck.select(ck.eq(kb.iadd(j0, kb.idx(m)), i), h1, h0));
      vector::StoreOp::create(b, l, vector::FromElementsOp::create(b, l, VectorType::get({8}, ck.f16), one), Wh.mem,
                              ValueRange{i, j0}, false, llvm::MaybeAlign(16));
    } else {
      copyRows(ck, Vin, kb.v(), n, V, width,
               [&](Value i, Value j) { return kb.iadd(kb.imul(chunkRow(ck, c0, i, n), kb.idx(V)), j); });
    }
    nvgpu::DeviceAsyncCreateGroupOp::create(b, l, tokenTy, ValueRange{});
    // The prologue: eight threads per token, 16-byte vector loads of the
    // thread's slice of its key and query row.
    {
      Value i = ck.div(ck.tid, 8), part = ck.rem(ck.tid, 8);
      Value d0 = kb.imul(part, kb.idx(K / 8));
      Value row = chunkRow(ck, c0, i, n);
      Value base = kb.iadd(kb.imul(row, kb.idx(K)), d0);
      auto vt = VectorType::get({width}, kb.ioType()), vf = VectorType::get({width}, ck.f32);
      SmallVector<Value> ks, qs;
      for (int64_t d = 0; d < K / 8; d += width)
        for (auto [mem, out] : {std::pair{kb.k(), &ks}, std::pair{kb.q(), &qs}}) {
          Value x = vector::LoadOp::create(b, l, vt, mem, ValueRange{kb.iadd(base, kb.idx(d))}, false,
                                           llvm::MaybeAlign(16));
          if (!kb.ioType().isF32())
            x = arith::ExtFOp::create(b, l, vf, x);
          for (int64_t m = 0; m < width; ++m)
            out->push_back(vector::ExtractOp::create(b, l, x, ArrayRef<int64_t>{m}));
        }
      // While this block's loads are in flight: the block a wave ahead's.
      if (lookahead)
        prefetchFuture(ck, future, K, V, !wsp.thin);
      ck.finishPrologue(rec, ks, qs, i, d0, part, ck.lt(i, n), row, Kh, Qh, A, Bc, LG);
    }
    ck.clearUpperTiles(QKh); // Q K^T's: not computed
    Value none = nvgpu::DeviceAsyncCreateGroupOp::create(b, l, tokenTy, ValueRange{});
    nvgpu::DeviceAsyncWaitOp::create(b, l, none, b.getI32IntegerAttr(0));
    ck.barrier();
    if (gated) {
      ck.when(ck.lt(ck.tid, kb.idx(32)), [&] { ck.scanLogG(LG); });
      ck.barrier();
    }
    Value ws = kb.workHalf();
    // Out to the workspace in 16-byte pieces of rows.
    auto store = [&](Mat from, Workspace::Field field, int64_t cols, Movers mv) {
      forPieces(
          ck, cols,
          [&](Value i, Value c) {
            ck.when(ck.lt(i, n), [&] {
              auto v8 = VectorType::get({8}, ck.f16);
              Value x = vector::LoadOp::create(b, l, v8, from.mem, ValueRange{i, c}, false, llvm::MaybeAlign(16));
              Value row = wr.row(kb, kb.iadd(c0, i)), at;
              if (field == Workspace::U) {
                Value tile = ck.div(c, UT);
                at = wr.at(kb, field, row, ck.rem(c, UT), tile);
              } else {
                // (c0 is a multiple of 8: token row mod 8 is i mod 8)
                at = wr.at(kb, field, row, wsp.swizzled(field) ? ck.rowSwizzle(i, c) : c);
              }
              if (lookahead)
                ck.storeStreaming(x, ws, at);
              else
                vector::StoreOp::create(b, l, x, ws, ValueRange{at}, false, llvm::MaybeAlign(16));
            });
          },
          8, mv);
    };
    // W, the keys, the queries and QK whole rows with their pads: the
    // memory's sectors written in full. At K = 64, where the shared-memory
    // rows are as wide as the field's, the chunk's live rows as one flat
    // piece on both sides: 16-byte pieces of it, no row arithmetic per piece.
    // (Measured at B1 T32768: D64 -8..-9%; D128 +1.5%, D256 +-0.5%, so
    // row by row there.)
    auto storeRows = [&](Mat from, Workspace::Field field, Movers mv) {
      const int64_t stride = wsp.stride(field);
      if (K > 64 || from.ld != stride)
        return store(from, field, stride, mv);
      Value flat = memref::CollapseShapeOp::create(b, l, from.mem, ArrayRef<ReassociationIndices>{{0, 1}});
      Value base = wr.at(kb, field, wr.row(kb, c0), kb.idx(0)), live = kb.imul(n, kb.idx(stride));
      auto v8 = VectorType::get({8}, ck.f16);
      Value id = mv.id ? mv.id : ck.tid;
      for (int64_t m = 0; m < C * stride / 8; m += mv.count) {
        Value at = kb.imul(kb.iadd(id, kb.idx(m)), kb.idx(8));
        ck.when(ck.lt(at, live), [&] {
          Value x = vector::LoadOp::create(b, l, v8, flat, ValueRange{at}, false, llvm::MaybeAlign(16));
          vector::StoreOp::create(b, l, x, ws, ValueRange{kb.iadd(base, at)}, false, llvm::MaybeAlign(16));
        });
      }
    };
    auto gain = [&](Value i) {
      Value s = kb.load(A, i);
      return gated ? kb.mul(s, kb.exp(kb.load(LG, i))) : s;
    };
    auto logGBesideW = [&](Mat W) {
      if (gated)
        ck.when(ck.lt(ck.tid, kb.idx(C)), [&] {
          auto f32x1 = VectorType::get({1}, ck.f32), f16x2 = VectorType::get({2}, ck.f16);
          Value lg = vector::BroadcastOp::create(b, l, f32x1, kb.load(LG, ck.tid));
          vector::StoreOp::create(b, l, vector::BitCastOp::create(b, l, f16x2, lg), W.mem,
                                  ValueRange{ck.tid, kb.idx(K)});
        });
    };
    // The ten tiles on or below the diagonal, on warps 0-9. (Measured
    // against all sixteen tiles, with the right-hand sides scaled into
    // shared memory: B1 T32768 D128 -4..-5.5%, B2 T16384 D128 -5%, D256 -3%
    // of the whole forward.)
    auto products = [&] {
      ck.matmuls(ck.kqProducts(Kh, Qh, KKd, Lh, QKh, A, LG, gated), 0, Chunked::T(Kh), 0, C, C, K, 0, kWarps,
                 kLowerTiles);
    };
    if (!registerSolve) {
      products();
      // U's right-hand side diag(b) V beside the diagonal inverses.
      scaleRows(Vin, V, [&](Value i) { return kb.load(Bc, i); });
      ck.barrier();
      ck.when(ck.lt(ck.tid, kb.idx(32 * (C / 16))), [&] { ck.inverse(kb.imul(ck.warp, kb.idx(16)), KKd, Tinv); });
      ck.barrier();
      ck.solveStrips(Lh, Tinv, RHS, Dh, V);
      ck.barrier();
      // Out to the workspace: U; beside it W's right-hand side diag(a G) K.
      store(Dh, Workspace::U, V, Movers{});
      scaleRows(Kh, K, gain);
      ck.barrier();
      ck.solveStrips(Lh, Tinv, RHS, Dh, K);
      // log G beside W, in the pad of its rows (the solve writes columns < K).
      logGBesideW(Dh);
      ck.barrier();
      storeRows(Dh, Workspace::W, Movers{});
      storeRows(Kh, Workspace::K_, Movers{});
      storeRows(Qh, Workspace::Q, Movers{});
      storeRows(QKh, Workspace::QK, Movers{});
      return;
    }
    // fn(the movers) by the warps from w0 on (by all where w0 is past the
    // last warp: nobody is idle then).
    auto fromWarp = [&](int64_t w0, const std::function<void(Movers)> &fn) {
      if (w0 >= kWarps)
        return fn(Movers{});
      Value id = arith::SubIOp::create(b, l, ck.tid, kb.idx(32 * w0));
      ck.when(ck.lt(id, kb.idx(kThreads - 32 * w0)), [&] { fn(Movers{id, kThreads - 32 * w0}); });
    };
    // The keys and the queries go out while warps 0-9 compute the products,
    // by the six warps without a tile.
    fromWarp(std::size(kLowerTiles), [&](Movers idle) {
      storeRows(Kh, Workspace::K_, idle);
      storeRows(Qh, Workspace::Q, idle);
    });
    products();
    // The warp of each diagonal tile inverts its block right after its
    // epilogue's stores into KKd (no block barrier before the inverses).
    {
      const auto *first = llvm::find(kLowerTiles, std::pair<int64_t, int64_t>{0, 0});
      const int64_t w0 = first - std::begin(kLowerTiles);
      for (int64_t r = 0; r < C / 16; ++r)
        assert(kLowerTiles[w0 + r] == (std::pair<int64_t, int64_t>{r, r}) && "the diagonal tiles on consecutive warps");
      Value r = arith::SubIOp::create(b, l, ck.warp, kb.idx(w0));
      ck.when(ck.lt(r, kb.idx(C / 16)), [&] {
        ck.syncWarp();
        ck.inverse(kb.imul(r, kb.idx(16)), KKd, Tinv);
      });
    }
    ck.barrier();
    if (wsp.thin) {
      // T = (I + L)^{-1}, QK out beside the solve; then T, and a and b.
      const Chunked::Solve solve[] = {{Wh, ck.f16, Wh, C, [&](Value) { return kb.f32(1.0); }}};
      fromWarp(Chunked::solveWarps(solve), [&](Movers mv) { storeRows(QKh, Workspace::QK, mv); });
      ck.solveTransposed(Lh, Tinv, solve);
      ck.barrier();
      storeRows(Wh, Workspace::T, Movers{});
      ck.when(ck.lt(ck.tid, n), [&] {
        auto f32x4 = VectorType::get({4}, ck.f32);
        Value fz = kb.f32(0);
        Value ab =
            vector::FromElementsOp::create(b, l, f32x4, ValueRange{kb.load(A, ck.tid), kb.load(Bc, ck.tid), fz, fz});
        Value at = wr.at(kb, Workspace::AB, wr.row(kb, kb.iadd(c0, ck.tid)), kb.idx(0));
        vector::StoreOp::create(b, l, vector::BitCastOp::create(b, l, VectorType::get({8}, ck.f16), ab), ws,
                                ValueRange{at}, false, llvm::MaybeAlign(16));
      });
      return;
    }
    // log G beside W, in the pad of its rows (the keys' rows, stored by now;
    // the solve writes columns < K).
    logGBesideW(Wh);
    // U = (I + L)^{-1} diag(b) V and W = (I + L)^{-1} diag(a G) K side by
    // side; QK out beside them, by the warps without a strip where there
    // are such, else by all before.
    const Chunked::Solve solves[] = {{f32io ? Vin : Uh, kb.ioType(), Uh, V, [&](Value i) { return kb.load(Bc, i); }},
                                     {Kh, ck.f16, Wh, K, gain}};
    fromWarp(Chunked::solveWarps(solves), [&](Movers mv) { storeRows(QKh, Workspace::QK, mv); });
    ck.solveTransposed(Lh, Tinv, solves);
    ck.barrier();
    store(Uh, Workspace::U, V, Movers{});
    storeRows(Wh, Workspace::W, Movers{});
  });
  return finishSplitKernel(kb, wsp, sharedBytes);
}

BuiltKernel buildSplitScanKernel(delta::RecurrenceOp rec, int64_t VT, int64_t UT, StringRef name, StringRef variant,
                                 Type io, bool pairs, bool inBlocks) {
  const int64_t K = rec.getKeyDim(), V = rec.getValueDim(), C = kChunk;
  // A chunk's output tiles (C x VT): one warp each at most.
  const int64_t oTiles = (C / 16) * (VT / 16);
  if (V % VT || V % 16 || oTiles > kWarps || UT % VT || V % UT)
    return {};
  const bool gated = !KernelBuilder::isUngated(rec);
  // The chunk operands (W, Q, K, U, QK) double buffered by chunk parity
  // where both buffers fit (K <= 128): the next chunk's arrive during this
  // one, two block barriers per chunk. (Measured against single buffers:
  // B1 T32768 -4..-5% at D = 128, -8% at D = 64.) Else one buffer each, the
  // next chunk's W, Q, U arriving during the second phase and K, QK during
  // the first, three barriers.
  Type f16 = Float16Type::get(rec->getContext()), f32 = Float32Type::get(rec->getContext());
  auto pb = [&](int64_t rows, int64_t cols, Type elem) { return Chunked::paddedBytes(rows, cols, elem); };
  const Workspace wsp = Workspace::of(rec, UT, inBlocks);
  // (A thin workspace, without W and U, is the scan on warpgroups' alone.)
  if (wsp.thin)
    return {};
  // The chunk operands' shared-memory rows: the workspace's where those are
  // row-swizzled, else padded.
  auto operandSize = [&](Workspace::Field f, int64_t cols) {
    return Chunked::paddedBytes(C, cols, f16, wsp.swizzled(f));
  };
  const int64_t operandBytes = operandSize(Workspace::W, K) + operandSize(Workspace::Q, K) +
                               operandSize(Workspace::K_, K) + operandSize(Workspace::U, VT) +
                               operandSize(Workspace::QK, C);
  const int64_t otherBytes = pb(K, VT, f16) + (gated ? 2 : 1) * pb(C, VT, f16) + pb(C, VT, f32) + (pairs ? 16 : 0);
  const bool twin = otherBytes + 2 * operandBytes <= kMaxSharedBytes;
  // Blocks in pairs (clusters of two neighbouring value tiles of a pair):
  // each chunk's W, Q, K and QK read from L2 once per two blocks instead of
  // once per block, block r of the two asking for rows 32 r .. 32 r + 31 of
  // each into both blocks' buffers (one multicast bulk copy a field),
  // completing on the buffer's mbarrier; U, the block's own, by cp.async as
  // before. Only with the double buffers: the copy into a buffer waits for
  // both blocks to be done with it (a cluster barrier, arrived at after the
  // chunk's first block barrier), which the chunk before gives time for.
  // And only where the movers below are (K >= 128): at K = 64, without
  // them, B1 T32768 was 1-2% slower in pairs (0.79 -> 0.80 ms).
  if (pairs && (!twin || (V / VT) % 2 || oTiles > kWarps / 2 || K < 128))
    return {};
  // Block x is pair * (V / VT) + value tile: a pair's tiles run side by
  // side and read the same rows of W, Q, K and QK, which L2 then serves.
  KernelBuilder kb = KernelBuilder::gpu(rec, "gpu-chunked", name, io, /*workspace=*/true, V / VT);
  OpBuilder &b = kb.builder();
  Location l = kb.loc();
  Chunked ck{kb, b, l, K, V, Value(), Value(), b.getF16Type(), b.getF32Type()};
  if (pairs)
    llvm::cast<gpu::GPUFuncOp>(kb.function()).setKnownClusterSize(ArrayRef<int32_t>{2, 1, 1});
  // Phase 1: warps 0 .. oWarps - 1 each take a tile of Delta and of Q S,
  // and keep Q S in registers for their tile of O in phase 2. (Measured
  // with Delta and Q S on separate warps: the same at D = 128, +9% at
  // D = 256.) The state tiles live in the warps' registers from h0 to ht:
  // in blocks beside O's tiles where the second phase is one pass over
  // Delta (fusedUpdate below), else tile (warp - oWarps) mod 16 + 16 m, the
  // warps without a tile of O first. O goes through shared memory to o,
  // stored by every thread
  // after the phase in whole vectors (measured: O stored in pairs from the
  // accumulators, +6% at B1 T32768 D128).
  const int64_t sTiles = (K / 16) * (VT / 16);
  // Where every warp holds several state tiles, tiles t = w + 16 m, and the
  // tiles of a row (VT / 16) divide 16, a warp's tiles lie in the same
  // columns: the state update loads Delta's fragments once per 16-deep step
  // for all of them instead of once a tile (K = 256: at value tile 64, 4
  // tiles a warp, 20 ldmatrix a warp per chunk instead of 32; measured at B2
  // T16384 H16: EFLA -1..1.6%, gated DeltaNet -2..3.5%, DeltaNet +-0.3%;
  // ungated kernels at tile 64 now take fusedUpdate below instead).
  const bool sharedColumns = sTiles % kWarps == 0 && sTiles > kWarps && kWarps % (VT / 16) == 0;
  auto warps = [](int64_t w0, int64_t n) {
    return n == 1 ? std::to_string(w0) : std::to_string(w0) + "-" + std::to_string(w0 + n - 1);
  };
  // The movers: where the warps of Delta and O are at most half the block
  // and K >= 128, the other half issues the cp.async and stores O, so that
  // the products' warps start their chain right after the barrier.
  // (Measured against every warp moving: B1 T32768 D128 -2..-3%, B2 T16384
  // D128 -4%, D256 at tile 32 +-2%; at K = 64, B1 T32768, +5..10%, so not
  // there.)
  const int64_t firstMover = oTiles <= kWarps / 2 && K >= 128 ? kThreads / 2 : 0;
  // Where a chunk's output tiles outnumber half the warps (value tile 64),
  // a warp takes a 16 x 32 strip of Delta and of Q S (then of O): W's and
  // Q's fragments loaded once for two tiles, a third less ldmatrix traffic.
  // (Measured at D = 256, B2 T16384: -5.5..-6%; with warps 8-15 moving as
  // well, +2% (ptxas spills 76 bytes); at value tile 32, B2 T16384 D128,
  // four warps of 16 x 32: +8%.) Not when gated: the gate factors of the
  // epilogues then make ptxas spill 52-60 bytes (measured +2..4%).
  const int64_t strip = oTiles > kWarps / 2 && !gated ? 2 : 1;
  const int64_t oWarps = oTiles / strip;
  // Ungated: the second phase as one pass over Delta a warp, O and a block
  // of state tiles (blockRows x strip, in the columns of the warp's strip of
  // O where it has one) sharing Delta's fragments, K's shared by the
  // block's tiles of a row; the blocks on warps 0 .. stateWarps - 1:
  //   - value tile 64 at K = 256 (strips of O): a 2 x 2 block on every warp
  //     (per chunk 288 ldmatrix in the phase instead of 416; measured at B2
  //     T16384 H16 D256: -4..5.5% for EFLA, DeltaNet and RK4 alike);
  //   - K <= 128 (K = C or 2 C): one tile a warp where the warps holding
  //     the state are then at most half the block (not the movers), else
  //     the K / C x 1 blocks of the warps of O alone. (Measured at value
  //     tile 16, K = 128, B1 T32768 H16, where one tile a warp holds the
  //     state on warps 0-7 instead of 4-11: EFLA 0.915-0.932 -> 0.896-0.904
  //     ms, against 0.900-0.905 with two tiles a warp on warps 0-3; at tile
  //     32, B2 T16384 H16, EFLA 0.779-0.782 -> 0.747-0.753 with two tiles
  //     on the warps of O, against 0.757-0.758 with one on every warp.)
  // Gated, the state takes diag(G_C / G) Delta, O Delta: nothing shared.
  const int64_t blocksPerRow = VT / (16 * strip);
  auto warpsFor = [&](int64_t rows) { return (K / (16 * rows)) * blocksPerRow; };
  int64_t blockRows = 0;
  if (!gated && strip == 2 && warpsFor(2) == kWarps)
    blockRows = 2;
  else if (!gated && (K == C || K == 2 * C))
    blockRows = warpsFor(1) <= kWarps / 2 ? 1 : K / C;
  const bool fusedUpdate = blockRows > 0;
  const int64_t stateWarps = fusedUpdate ? warpsFor(blockRows) : 0;
  const std::string owners =
      fusedUpdate && stateWarps < kWarps
          ? std::to_string(blockRows * strip) + " on each of warps " + warps(0, stateWarps)
      : sTiles >= kWarps ? std::to_string(sTiles / kWarps) + (sTiles % kWarps ? " or more" : "") + " on every warp"
                         : "one each on warps " + warps(oWarps, sTiles);
  Value smem = ck.begin(
      VT, variant, "split",
      "split, second kernel: the state's " + std::to_string(sTiles) + " 16 x 16 tiles in registers (" + owners +
          "), 2 phases per chunk: [warps " + warps(0, oWarps) + (strip > 1 ? " (16 x 32 each)" : "") +
          ": Delta = U - W S, Q S kept in registers] [warps " + warps(0, oWarps) +
          ": O = Q S + QK Delta | the state's tiles: S = G_C S + K^T Delta" +
          (fusedUpdate ? " (a " + std::to_string(blockRows) + " x " + std::to_string(strip) +
                             " block of tiles a warp on warps " + warps(0, stateWarps) + ", in the columns of its " +
                             (strip > 1 ? "strip" : "tile") + " of O where it has one: one pass over Delta for both)"
           : sharedColumns ? " (a warp's tiles in the same columns, Delta's fragments loaded once for them)"
                           : "") +
          ", their f16 copy], O "
          "stored to o after the second; " +
          (twin ? std::string("the chunk operands double buffered, the next chunk's by cp.async during this one") +
                      (firstMover ? ", the one after into L2" : "")
                : "the next chunk's operands by cp.async during the other phase") +
          (firstMover ? " (issued by warps " + warps(firstMover / 32, kWarps - firstMover / 32) + ", which store O too)"
                      : "") +
          (pairs ? "; blocks in clusters of two (a pair's neighbouring value tiles): each chunk's W, Q, K and QK "
                   "rows asked for half by each block and multicast to both by bulk copies completing on the "
                   "buffer's mbarrier (issued by warp 15's first lane after a cluster barrier), U by cp.async"
                 : "") +
          (scanLaunchesEarly(rec) ? "; on sm_90 and later launched while the first kernel's last blocks run, its "
                                    "state loaded and its barriers set up before it waits for that kernel's end"
                                  : "") +
          "; lets the next kernel launch as it starts (sm_90 on)");
  const WorkRows wr(ck, wsp);
  int64_t off = 0;
  Mat Sh = ck.view(smem, off, K, VT, ck.f16);
  // (In pairs, the fields stored in blocks keep them in shared memory as
  // slabs of 64 columns, which a multicast copy a half fills.)
  auto operand = [&](Workspace::Field f, int64_t cols) {
    const bool slabs = pairs && wsp.blocked(f);
    Chunked::Twin t = ck.twin(smem, off, C, cols, ck.f16, slabs, wsp.swizzled(f) && !slabs);
    if (!twin)
      off -= t.bytes; // buffer 0 only
    return t;
  };
  Chunked::Twin W2 = operand(Workspace::W, K), Q2 = operand(Workspace::Q, K), K2 = operand(Workspace::K_, K),
                U2 = operand(Workspace::U, VT), QK2 = operand(Workspace::QK, C);
  Mat Dh = ck.view(smem, off, C, VT, ck.f16);
  Mat DWh = gated ? ck.view(smem, off, C, VT, ck.f16) : Dh;
  Mat O = ck.view(smem, off, C, VT, ck.f32);
  const int64_t barOff = (off + 7) / 8 * 8; // the buffers' two mbarriers (pairs)
  if (pairs)
    off = barOff + 16;
  const int64_t sharedBytes = off;
  // log G of chunk row i: the f32 in the pad of W's row.
  auto logG = [&](Mat W, Value i) {
    Value x = vector::LoadOp::create(b, l, VectorType::get({2}, ck.f16), W.mem, ValueRange{i, kb.idx(K)});
    x = vector::BitCastOp::create(b, l, VectorType::get({1}, ck.f32), x);
    return vector::ExtractOp::create(b, l, x, ArrayRef<int64_t>{0}).getResult();
  };

  // The next kernel may launch once every block of this one has started
  // (with programmatic stream serialization, sm_90 on): where the runtime
  // runs the schedule in segments, the next range's first kernel, on the
  // SMs this scan leaves.
  NVVM::GriddepcontrolOp::create(b, l, NVVM::GridDepActionKind::launch_dependents);
  Value zero = kb.idx(0);
  // This launch's chunks of the pair: token rows cb .. ce - 1 (the runtime
  // may run a forward as several launches over consecutive ranges; the
  // state goes through ht between them).
  Value cb = kb.imul(kb.chunkBegin(), kb.idx(C));
  Value ce = arith::MinSIOp::create(b, l, kb.len(), kb.imul(kb.chunkEnd(), kb.idx(C)));
  Value any = ck.lt(cb, ce);
  Value tileY = kb.tile();
  Value v0 = kb.imul(tileY, kb.idx(VT));
  // This tile's columns of U: in the workspace's tile uTile from uCol on.
  Value uTile = UT == VT ? tileY : ck.div(tileY, UT / VT);
  Value uCol = UT == VT ? Value() : kb.imul(ck.rem(tileY, UT / VT), kb.idx(VT));
  Value scale = kb.f32(llvm::cast<FloatAttr>(kb.attr("delta.scale")).getValueAsDouble());
  // O's store: mover (vi, vj0) a run of C VT / movers columns.
  const Movers mv{arith::SubIOp::create(b, l, ck.tid, kb.idx(firstMover)), kThreads - firstMover};
  Value mover = ck.le(kb.idx(firstMover), ck.tid);
  Value vi = ck.div(kb.imul(mv.id, kb.idx(C * VT / mv.count)), VT);
  Value vj0 = ck.rem(kb.imul(mv.id, kb.idx(C * VT / mv.count)), VT);
  auto byMovers = [&](const std::function<void()> &body) {
    if (firstMover)
      ck.when(mover, body);
    else
      body();
  };
  Value ws = kb.workHalf();
  auto tokenTy = nvgpu::DeviceAsyncTokenType::get(b.getContext());
  // cp.async of the chunk at c0's rows of a field (`cols` columns from 0)
  // into `to` (rows past the end, or chunks past it, zero-filled).
  auto fetch = [&](Mat to, Value c0, Workspace::Field field, int64_t cols) {
    copyRows(
        ck, to, ws, arith::SubIOp::create(b, l, ce, c0), cols, 8,
        [&](Value i, Value c) {
          Value t = arith::MinUIOp::create(b, l, kb.iadd(c0, i), arith::SubIOp::create(b, l, kb.len(), kb.idx(1)));
          if (field != Workspace::U)
            return wr.at(kb, field, wr.row(kb, t), c);
          return wr.at(kb, field, wr.row(kb, t), uCol ? kb.iadd(uCol, c) : c, uTile);
        },
        mv);
  };
  // The chunk at c0's rows of every field into L2, a chunk before cp.async
  // asks for them (with the double buffers: chunk c + 2's while chunk c + 1's
  // are asked for): each field's rows of a chunk are one contiguous piece,
  // prefetched line by line (64 f16); the key-side fields' lines dealt over
  // the pair's V / VT blocks (line e to the block of tile e mod V / VT), U's
  // tile by each block that reads it. A hint only, issued by the movers, so
  // only where there are movers. (Measured: B1 T32768 D128 -6..-7%, gated
  // -1..-1.5%, B2 T16384 D128 -0.5..-2%; where every thread moves, K = 64,
  // B1 T32768 +1.5..2.5%; with single buffers, at K = 256, +1%.)
  auto prefetchChunk = [&](Value c0) {
    const int64_t line = 64, tiles = V / VT;
    Value n = liveRows(ck, c0);
    Value first = wr.row(kb, c0);
    for (Workspace::Field f : {Workspace::W, Workspace::Q, Workspace::K_, Workspace::QK, Workspace::U}) {
      const bool shared = f != Workspace::U;
      // (a field in blocks of 64 columns: each block's rows one piece)
      for (int64_t h = 0; h < wsp.blocks(f); ++h) {
        const int64_t stride = wsp.blocked(f) ? 64 : wsp.stride(f), lines = (C * stride + line - 1) / line;
        const int64_t mine = shared ? (lines + tiles - 1) / tiles : lines;
        Value base = f == Workspace::U ? wr.at(kb, f, first, zero, uTile) : wr.at(kb, f, first, kb.idx(64 * h));
        Value live = kb.imul(n, kb.idx(stride)); // f16 of the chunk's live rows
        for (int64_t m = 0; m < mine; m += mv.count) {
          Value e = kb.iadd(mv.id, kb.idx(m));
          Value ok = ck.lt(e, kb.idx(mine));
          if (shared)
            e = kb.iadd(kb.imul(e, kb.idx(tiles)), tileY);
          Value at = kb.imul(e, kb.idx(line));
          ck.when(arith::AndIOp::create(b, l, ok, ck.lt(at, live)), [&] { ck.prefetchL2(ws, kb.iadd(base, at)); });
        }
      }
    }
  };
  auto commit = [&] { nvgpu::DeviceAsyncCreateGroupOp::create(b, l, tokenTy, ValueRange{}); };
  auto waitGroups = [&](int32_t pending) {
    Value none = nvgpu::DeviceAsyncCreateGroupOp::create(b, l, tokenTy, ValueRange{});
    nvgpu::DeviceAsyncWaitOp::create(b, l, none, b.getI32IntegerAttr(pending + 1));
  };
  // Group A (first phase's operands: W with its pad when gated, Q, U) and
  // group B (the second's), into the buffers of parity `par`.
  auto fetchA = [&](Value c0, Value par) {
    if (!pairs) {
      fetch(ck.at(W2, par), c0, Workspace::W, gated ? K + 8 : K);
      fetch(ck.at(Q2, par), c0, Workspace::Q, K);
    }
    fetch(ck.at(U2, par), c0, Workspace::U, VT);
    if (!twin)
      commit();
  };
  auto fetchB = [&](Value c0, Value par) {
    if (!pairs) {
      fetch(ck.at(K2, par), c0, Workspace::K_, K);
      fetch(ck.at(QK2, par), c0, Workspace::QK, C);
    }
    commit();
  };
  // Pairs: the buffers' mbarriers, the multicast copies and their waits.
  // The copies are issued by one thread of the movers (the last warp's
  // first lane) after its warp has waited on the cluster barrier.
  MLIRContext *ctx = b.getContext();
  auto i32 = [&](Value x) { return arith::IndexCastOp::create(b, l, b.getI32Type(), x).getResult(); };
  auto ptr = [&](unsigned space, Value address) {
    return LLVM::IntToPtrOp::create(b, l, LLVM::LLVMPointerType::get(ctx, space), address).getResult();
  };
  auto bar = [&](Value par) { return ptr(3, ck.address(smem, kb.iadd(kb.idx(barOff), kb.imul(par, kb.idx(8))))); };
  const std::pair<Chunked::Twin, Workspace::Field> shared[] = {
      {W2, Workspace::W}, {Q2, Workspace::Q}, {K2, Workspace::K_}, {QK2, Workspace::QK}};
  int64_t sharedRowBytes = 0;
  for (auto &[t, f] : shared)
    sharedRowBytes += 2 * wsp.stride(f);
  // (The whole warp waits on the cluster barrier: a wait by one lane of a
  // warp makes ptxas wait for the warp's other lanes too, which deadlocks.)
  Value issuer = ck.eq(ck.tid, kb.idx(kThreads - 32)), issuerWarp = ck.le(kb.idx(kThreads - 32), ck.tid);
  // The chunk at c0's bytes expected on the buffer's mbarrier (before the
  // cluster barrier that lets the other block copy into it).
  auto expect = [&](Value c0, Value par) {
    Value n = liveRows(ck, c0);
    NVVM::MBarrierArriveExpectTxOp::create(b, l, Type(), bar(par), i32(kb.imul(n, kb.idx(sharedRowBytes))),
                                           NVVM::MemScopeKind::CTA, false, Value());
  };
  auto multicast = [&](Value c0, Value par) {
    Value n = liveRows(ck, c0);
    Value rank = arith::IndexCastOp::create(b, l, b.getIndexType(), NVVM::ClusterId::create(b, l, b.getI32Type()));
    Value r0 = kb.imul(rank, kb.idx(C / 2));
    Value rows = arith::MinSIOp::create(b, l, kb.idx(C / 2), arith::SubIOp::create(b, l, n, r0));
    Value mask = arith::ConstantIntOp::create(b, l, b.getI16Type(), 3);
    ck.when(arith::CmpIOp::create(b, l, arith::CmpIPredicate::sgt, rows, zero), [&] {
      for (auto &[t, f] : shared) {
        Mat to = ck.at(t, par);
        const int64_t stride = wsp.stride(f);
        // A field in blocks of 64 columns: each block's rows into its slab of C rows.
        for (int64_t h = 0; h < wsp.blocks(f); ++h) {
          const int64_t width = wsp.blocked(f) ? 64 : stride;
          assert((wsp.blocked(f) ? to.swizzled : to.ld == stride) && "the shared-memory rows are the workspace's");
          Value dst = ptr(7, ck.address(to.mem, kb.iadd(kb.idx(h * C * 128), kb.imul(r0, kb.idx(2 * width)))));
          Value src =
              ptr(1, ck.address(ws, kb.imul(wr.at(kb, f, wr.row(kb, kb.iadd(c0, r0)), kb.idx(64 * h)), kb.idx(2))));
          NVVM::CpAsyncBulkGlobalToSharedClusterOp::create(b, l, dst, src, bar(par),
                                                           i32(kb.imul(rows, kb.idx(2 * width))), mask, Value());
        }
      }
    });
  };

  // Element pairs (row i; columns j, j + 1) in shared memory.
  auto h2 = VectorType::get({2}, ck.f16), f2 = VectorType::get({2}, ck.f32);
  auto loadPair = [&](Mat m, Value i, Value j) {
    Value x = vector::LoadOp::create(b, l, h2, m.mem, ValueRange{i, j}, false, llvm::MaybeAlign(4));
    return arith::ExtFOp::create(b, l, f2, x).getResult();
  };
  auto storePair = [&](Value x, Mat m, Value i, Value j) {
    vector::StoreOp::create(b, l, arith::TruncFOp::create(b, l, h2, x), m.mem, ValueRange{i, j}, false,
                            llvm::MaybeAlign(4));
  };
  Chunked::Lane ln = ck.lane();
  SmallVector<Chunked::OwnTile> own;
  if (fusedUpdate) {
    // Warp w's block of state tiles (w' = w, or w mod stateWarps where only
    // warps 0 .. stateWarps - 1 hold one: the others repeat a block, not
    // theirs, and never store it): rows
    // 16 blockRows (w' / blocksPerRow) .., columns 16 strip (w' mod
    // blocksPerRow) .. (those of its strip of O where it has one).
    Value w = stateWarps == kWarps ? ck.warp : ck.rem(ck.warp, stateWarps);
    Value r = kb.imul(ck.div(w, blocksPerRow), kb.idx(16 * blockRows));
    Value c = kb.imul(ck.rem(w, blocksPerRow), kb.idx(16 * strip));
    Value mine = stateWarps == kWarps ? arith::ConstantIntOp::create(b, l, b.getI1Type(), 1).getResult()
                                      : ck.lt(ck.warp, kb.idx(stateWarps));
    for (int64_t i = 0; i < blockRows; ++i)
      for (int64_t j = 0; j < strip; ++j)
        own.push_back({kb.iadd(r, kb.idx(16 * i)), kb.iadd(c, kb.idx(16 * j)), mine});
  } else {
    own = ck.ownStateTiles(VT, kWarps - oWarps);
  }
  const bool everyTileMine = sTiles % kWarps == 0;
  // The f16 copy of a state tile the warp owns.
  auto writeSh = [&](const Chunked::OwnTile &o, const Chunked::Acc &acc) { ck.storeTileF16(ln, Sh, acc, o.ti, o.tj); };
  SmallVector<Value> S0 = ck.loadStateRegisters(ln, own, v0);
  for (size_t m = 0; m < own.size(); ++m)
    ck.when(own[m].mine, [&] { writeSh(own[m], {S0[2 * m], S0[2 * m + 1]}); });
  if (pairs) {
    // Launched in clusters of two or not at all: trap rather than wait on
    // copies that never come.
    Value blocks = arith::IndexCastOp::create(b, l, b.getIndexType(), NVVM::ClusterDim::create(b, l, b.getI32Type()));
    ck.when(arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, blocks, kb.idx(2)),
            [&] { LLVM::Trap::create(b, l); });
    ck.when(ck.eq(ck.tid, zero), [&] {
      for (int64_t par = 0; par < 2; ++par)
        NVVM::MBarrierInitOp::create(b, l, bar(kb.idx(par)), arith::ConstantIntOp::create(b, l, 1, 32), Value());
      NVVM::FenceMbarrierInitOp::create(b, l);
    });
    ck.barrier();
    // The first chunk's bytes expected, and both blocks' mbarriers
    // initialised, before either copies.
    ck.when(arith::AndIOp::create(b, l, issuer, any), [&] { expect(cb, zero); });
    NVVM::ClusterArriveOp::create(b, l, b.getUnitAttr());
    NVVM::ClusterWaitOp::create(b, l, b.getUnitAttr());
  }
  ck.barrier();
  // Launched before the first kernel's end (programmatic stream
  // serialization, sm_90 on), the scan has loaded its state and set up by
  // now; the workspace is read only after the first kernel is done and its
  // writes are visible. (Without such a launch this returns at once.)
  if (scanLaunchesEarly(rec))
    NVVM::GriddepcontrolOp::create(b, l, NVVM::GridDepActionKind::wait);
  ck.when(any, [&] {
    if (pairs)
      ck.when(issuer, [&] { multicast(cb, zero); });
    byMovers([&] {
      fetchA(cb, zero);
      fetchB(cb, zero);
    });
  });
  SmallVector<Value> last = kb.carry(cb, ce, C, S0, [&](Value c0, ValueRange S) {
    Value n = liveRows(ck, c0);
    Value next = kb.iadd(c0, kb.idx(C));
    Value local = arith::SubIOp::create(b, l, c0, cb); // the launch's chunk (local / C)
    Value p = twin ? ck.rem(ck.div(local, C), 2) : zero;
    Mat W = ck.at(W2, p), Qh = ck.at(Q2, p), Kh = ck.at(K2, p), U = ck.at(U2, p), QKh = ck.at(QK2, p);
    if (twin) {
      // This chunk's operands, and the last chunk's O in shared memory;
      // then the next chunk's operands into the other buffers (read last
      // by the chunk before) and the last chunk's O to o.
      waitGroups(0);
      if (pairs) {
        // The buffer's use u = chunk / 2 completes its phase u (parity u mod 2).
        Value use = ck.div(local, 2 * C);
        NVVM::MBarrierTryWaitParityOp::create(b, l, bar(p), i32(ck.rem(use, 2)),
                                              arith::ConstantIntOp::create(b, l, 0, 32));
        // The rows past the end of a last, partial chunk: zeros (no copy
        // writes them), as cp.async's zero fill gives.
        ck.when(ck.lt(n, kb.idx(C)), [&] {
          Value z = arith::ConstantOp::create(
              b, l, DenseElementsAttr::get(VectorType::get({8}, ck.f16), b.getF16FloatAttr(0.0)));
          for (auto &[t, f] : shared) {
            Mat m = ck.at(t, p);
            forPieces(ck, m.ld, [&](Value i, Value c) {
              ck.when(ck.le(n, i), [&] {
                // (any place of the row's pieces: a slab's by el())
                SmallVector<Value, 4> at = m.swizzled ? ck.el(m, i, c) : SmallVector<Value, 4>{i, c};
                vector::StoreOp::create(b, l, z, m.mem, at, false, llvm::MaybeAlign(16));
              });
            });
          }
        });
      }
      ck.barrier();
      Value q = arith::SubIOp::create(b, l, kb.idx(1), p);
      if (pairs) {
        // Done with the buffers of the chunk before: the other block may
        // copy into them once it has waited.
        Value more = ck.lt(next, ce);
        ck.when(arith::AndIOp::create(b, l, issuer, more), [&] { expect(next, q); });
        NVVM::ClusterArriveRelaxedOp::create(b, l, b.getUnitAttr());
        ck.when(issuerWarp, [&] {
          NVVM::ClusterWaitOp::create(b, l, b.getUnitAttr());
          ck.when(arith::AndIOp::create(b, l, issuer, more), [&] { multicast(next, q); });
        });
      }
      byMovers([&] {
        fetchA(next, q);
        fetchB(next, q);
        if (firstMover) {
          Value after = kb.iadd(next, kb.idx(C));
          ck.when(ck.lt(after, ce), [&] { prefetchChunk(after); });
        }
        ck.when(ck.lt(cb, c0), [&] {
          ck.storeOutputs(O, arith::SubIOp::create(b, l, c0, kb.idx(C)), kb.idx(C), v0, VT, scale, vi, vj0, mv.count);
        });
      });
    } else {
      waitGroups(1); // group A of this chunk (B may still be in flight)
      ck.barrier();
    }
    // Phase 1: Delta = U - W S (and diag(G_C / G) Delta when gated) to
    // shared memory; Q S (diag(G) Q S when gated) kept.
    Value lastLG = gated ? logG(W, arith::SubIOp::create(b, l, n, kb.idx(1))) : Value();
    Chunked::Product delta{W, Dh};
    delta.pairEpilogue = [&](Value i, Value j, Value x0, Value x1) {
      Value d =
          arith::SubFOp::create(b, l, loadPair(U, i, j), vector::FromElementsOp::create(b, l, f2, ValueRange{x0, x1}));
      storePair(d, Dh, i, j);
      if (gated) {
        Value f = vector::BroadcastOp::create(b, l, f2, kb.exp(kb.sub(lastLG, logG(W, i))));
        storePair(arith::MulFOp::create(b, l, f, d), DWh, i, j);
      }
    };
    Chunked::Product qs{Qh, Mat{}};
    qs.keep = true;
    if (gated)
      qs.rowScale = [&](Value i) { return kb.exp(logG(W, i)); };
    SmallVector<Chunked::Acc> kept = ck.matmuls({delta, qs}, 0, Sh, 0, C, VT, K, 0, kWarps, {}, strip);
    Value gc = gated ? kb.exp(lastLG) : Value();
    if (!twin)
      waitGroups(0); // group B of this chunk
    ck.barrier();
    if (!twin)
      byMovers([&] { fetchA(next, zero); });
    // Phase 2: O = QS + QK Delta; S = G_C S + K^T (diag(G_C / G) Delta).
    auto c2 = VectorType::get({2, 2}, ck.f32);
    // State tile m's accumulators, times G_C when gated.
    auto stateAcc = [&](size_t m) {
      Chunked::Acc acc = {S[2 * m], S[2 * m + 1]};
      if (gated)
        for (Value &a : acc)
          a = kb.mul(vector::BroadcastOp::create(b, l, c2, gc), a);
      return acc;
    };
    SmallVector<Value> updated;
    if (fusedUpdate) {
      // Warps with a strip of O: O and the block in one pass; the others
      // the block alone where every warp has one, else nothing.
      Value oi = kb.imul(ck.div(ck.warp, blocksPerRow), kb.idx(16));
      auto block = [&](bool withO) {
        SmallVector<Chunked::Acc> state;
        for (size_t m = 0; m < own.size(); ++m)
          state.push_back(stateAcc(m));
        SmallVector<Chunked::Acc> accs = ck.oAndStatePass(
            ln, QKh, oi, withO ? ArrayRef<Chunked::Acc>(kept) : ArrayRef<Chunked::Acc>(), Kh, own, state, strip, Dh);
        SmallVector<Value> out;
        const size_t first = withO ? strip : 0;
        if (withO)
          for (int64_t m = 0; m < strip; ++m)
            ck.forEachElement(ln, accs[m], oi, own[m].tj,
                              [&](Value i, Value j, Value x) { kb.store(x, O.mem, ck.el(O, i, j)); });
        for (size_t m = 0; m < own.size(); ++m) {
          writeSh(own[m], accs[first + m]);
          out.append({accs[first + m][0], accs[first + m][1]});
        }
        return out;
      };
      auto op = scf::IfOp::create(b, l, SmallVector<Type>(2 * own.size(), c2), ck.lt(ck.warp, kb.idx(oWarps)), true);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(op.thenBlock());
      scf::YieldOp::create(b, l, block(true));
      b.setInsertionPointToStart(op.elseBlock());
      if (stateWarps == oWarps) {
        scf::YieldOp::create(b, l, S);
      } else if (stateWarps == kWarps) {
        scf::YieldOp::create(b, l, block(false));
      } else {
        auto op2 =
            scf::IfOp::create(b, l, SmallVector<Type>(2 * own.size(), c2), ck.lt(ck.warp, kb.idx(stateWarps)), true);
        scf::YieldOp::create(b, l, op2.getResults());
        b.setInsertionPointToStart(op2.thenBlock());
        scf::YieldOp::create(b, l, block(false));
        b.setInsertionPointToStart(op2.elseBlock());
        scf::YieldOp::create(b, l, S);
      }
      updated.append(op.getResults().begin(), op.getResults().end());
    } else {
      Chunked::Product o{QKh, O};
      o.init.assign(kept.begin(), kept.end());
      ck.matmuls({o}, 0, Dh, 0, C, VT, C, 0, kWarps, {}, strip);
      if (sharedColumns) {
        // The warp's tiles share their columns: Delta's fragments loaded
        // once per 16-deep step for all of them.
        SmallVector<Chunked::Acc> accs;
        SmallVector<Value> rows;
        for (size_t m = 0; m < own.size(); ++m) {
          accs.push_back(stateAcc(m));
          rows.push_back(own[m].ti);
        }
        ck.stripProducts(ln, SmallVector<Mat>(own.size(), Chunked::T(Kh)), DWh, Value(), {own[0].tj}, C, accs, rows);
        for (size_t m = 0; m < own.size(); ++m) {
          writeSh(own[m], accs[m]);
          updated.append({accs[m][0], accs[m][1]});
        }
      } else {
        for (size_t m = 0; m < own.size(); ++m) {
          auto update = [&] {
            Chunked::Acc acc = stateAcc(m);
            ck.tileProducts(ln, {Chunked::T(Kh)}, DWh, own[m].ti, own[m].tj, C, {&acc, 1});
            writeSh(own[m], acc);
            return SmallVector<Value>{acc[0], acc[1]};
          };
          if (everyTileMine) {
            updated.append(update());
            continue;
          }
          auto op = scf::IfOp::create(b, l, TypeRange{c2, c2}, own[m].mine, true);
          OpBuilder::InsertionGuard g(b);
          b.setInsertionPointToStart(op.thenBlock());
          scf::YieldOp::create(b, l, update());
          b.setInsertionPointToStart(op.elseBlock());
          scf::YieldOp::create(b, l, ValueRange{S[2 * m], S[2 * m + 1]});
          updated.append(op.getResults().begin(), op.getResults().end());
        }
      }
    }
    if (pairs) // (the issuer's warp has waited)
      ck.when(arith::XOrIOp::create(b, l, issuerWarp, arith::ConstantIntOp::create(b, l, b.getI1Type(), 1)),
              [&] { NVVM::ClusterWaitOp::create(b, l, b.getUnitAttr()); });
    if (!twin) {
      ck.barrier();
      byMovers([&] {
        fetchB(next, zero);
        ck.storeOutputs(O, c0, n, v0, VT, scale, vi, vj0, mv.count); // O to o
      });
    }
    return updated;
  });
  waitGroups(0);
  if (pairs) { // neither block leaves while the other may copy into it
    NVVM::ClusterArriveOp::create(b, l, b.getUnitAttr());
    NVVM::ClusterWaitOp::create(b, l, b.getUnitAttr());
  }
  if (twin) { // the last chunk's O
    ck.barrier();
    Value lastC0 = kb.imul(ck.div(arith::SubIOp::create(b, l, ce, kb.idx(1)), C), kb.idx(C));
    ck.when(any, [&] {
      byMovers([&] {
        ck.storeOutputs(O, lastC0, arith::SubIOp::create(b, l, ce, lastC0), v0, VT, scale, vi, vj0, mv.count);
      });
    });
  }
  ck.storeStateRegisters(ln, own, last, v0);
  return finishSplitKernel(kb, wsp, sharedBytes);
}

} // namespace deltac
