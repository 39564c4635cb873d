//===- ToGPUSplitWarpgroup.cpp - the split scan on one warpgroup (sm_90a) -===//
//
// The split schedule's scan (ToGPUSplit.cpp) in a form for sm_90a, at
// K = 128 or 256, ungated, 16-bit storage: one warpgroup walks the chunks of
// 64 value columns of a pair with the state transposed, S^T (64 x K), as
// wgmma accumulators, so that the chunk's whole chain is products on that
// warpgroup:
//
//   Delta^T = U^T - S^T W^T      (A = S^T, B = W)
//   O^T     = S^T Q^T + Delta^T QK^T
//   S^T    += Delta^T K          (B = K read transposed)
//
// with A from registers at K = 128; at K = 256, where S^T's accumulators
// take 128 registers a thread, the products with S^T take it from its f16
// copy in shared memory (written by stmatrix after each chunk's update),
// and the workspace is thin (struct Workspace): no W and no U, but the
// chunk's T = (I + L)^{-1} and each token's a and b, so that
//
//   Y^T     = V^T diag(b) - (S^T K^T) diag(a)   (V: the block's columns of v)
//   Delta^T = Y^T T^T                           (A = Y^T from registers)
//
// (Delta = T (diag(b) V - diag(a) K S) = U - W S.) The first kernel then
// reads no values and solves for C columns instead of K + V, and the scan
// copies 88 KB a chunk instead of 112: measured at B2 T16384 H16 D256 EFLA,
// the first kernel 817 -> 540 us, the scan 608 -> 550 us, the forward
// 1.416 -> 1.101 ms. Then Q in the two buffers too (it had one place, its
// next chunk's copy issued once S^T Q^T was done) and QK's copy issued
// before the buffer's (the bulk copies of an SM land in the order they are
// issued, and QK is wanted half a chunk in, the buffer's a chunk later): the
// scan 550 -> 481-486 us (Q in the buffers with QK still issued after them,
// queued behind 73 KB: 640 us).
// W, Q, QK and K go to the tensor cores from shared memory by descriptors
// once per chunk, instead of once per warp by ldmatrix: the workspace's
// row-swizzled rows, stored in blocks of 64 columns (struct Workspace,
// inBlocks), are wgmma's 128-byte swizzled slabs as they lie. A second
// warpgroup brings each chunk's rows by bulk copies (a slab per 64 columns
// of W, Q and K, QK, U's tiles; at K = 256 of Q and K, T, QK, a and b, and
// the block's columns of v by cp.async) into the places struct Plan says,
// completing on mbarriers, and stores O^T, which the first stages in shared
// memory (stmatrix.trans), to o; named barriers tell it when a place or a
// stage is free again.
//
// Measured at B1 T32768 H16 D128 (EFLA, the two kernels): the scan takes
// 531 us against 707 for the clusters of two it replaces (643 with the rows
// copied by cp.async); but beside the first kernels of the segments it
// slows to 1.6-1.8 us a chunk (64 KB a chunk from L2 into each of its SMs),
// and the forward is 0.825 ms against 0.80: so there --wgmma only. At K =
// 256 (ungated) the forward is 11% faster at B2 T16384 and B8 T4096 H16
// (B2 T16384: 1.68 -> 1.49 ms, then 1.42 with S^T Q^T beside Delta^T) and
// 7% at B1 T32768 (segments), so there it is the default, the sm_90a form
// of both scans. The blocks of 64 columns it reads are then the sm_90
// image's layout only (the first kernels' sm_90a twins write them): the
// mma.sync scans of the sm_80 image read padded rows, 16% faster than the
// blocks at B2 T16384 D256.
//
// It stands in for a split scan (a twin: same grid, value tile and
// parameters): of the blocks of a pair's value tiles, those at a
// multiple of 64 columns each take 64; the others return at once.
//
//===----------------------------------------------------------------------===//
#include "ChunkedGpu.h"
#include "SplitWorkspace.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace deltac {

namespace {
constexpr int64_t kWgThreads = 256, kCols = 64, kSlab = 64 * 128, kStageBytes = 64 * 128;
// Named barriers between the two warpgroups: buffer b free again (4 + b;
// at K = 256 the two buffers, and QK's place (13)); stage s written
// (7 + s), stored (9 + s); among warpgroup 0, a partial chunk's stale rows
// zeroed (11), the state's f16 copy written (12, K = 256).
constexpr int32_t kEmpty = 4, kStaged = 7, kStored = 9, kZeroed = 11, kCopied = 12, kEmptyK = 13;

/// Where a chunk's rows go in shared memory (bytes from a 1024-byte
/// boundary), by K:
///   K = 128: three buffers, each W, Q, K (two slabs of 64 rows x 128 bytes
///            each), QK (one slab) and U (the workspace's tiles of UT columns
///            that hold the block's 64, each 64 rows x UT): the chunk k's
///            rows in buffer k mod 3, each buffer completing on its mbarrier;
///   K = 256 (the thin workspace: T in place of W, no U): two buffers, each
///            K and Q (four slabs each), T (one), the block's 64 columns of
///            v (64 rows of 128 bytes in the storage type, row-swizzled like
///            a slab's) and a and b (64 rows of 16 bytes), chunk k's in
///            buffer k mod 2; one place of QK, on an mbarrier of its own;
///            then the state's f16 copy S^T (four slabs), the A operand of
///            the products with S^T (its accumulators, 128 registers a
///            thread, leave no room for their f16 fragments);
/// then two stages of O (64 rows x 64 columns of the storage type, 16-byte
/// pieces swizzled like a slab's); then the mbarriers.
struct Plan {
  int64_t slabs, buffers, buffer, W, Q, K_, QK, U, AB, copy, stage, bars, bytes;
  /// Field f's first byte in its place (buffer 0's where it moves with the
  /// buffer; at K = 256 W's is T's, U's the values').
  int64_t at(Workspace::Field f) const {
    return f == Workspace::W    ? W
           : f == Workspace::Q  ? Q
           : f == Workspace::K_ ? K_
           : f == Workspace::QK ? QK
           : f == Workspace::AB ? AB
                                : U;
  }
  /// Whether a field moves with the buffer (all but QK at K = 256) or has
  /// one place.
  bool buffered(Workspace::Field f) const { return buffers == 3 || f != Workspace::QK; }
  static Plan of(int64_t K) {
    Plan p{};
    p.slabs = K / 64;
    if (K == 128) {
      p.buffers = 3;
      p.W = 0, p.Q = 2 * kSlab, p.K_ = 4 * kSlab, p.QK = 6 * kSlab, p.U = 7 * kSlab, p.buffer = 8 * kSlab;
      p.stage = p.buffers * p.buffer;
      p.copy = -1;
    } else {
      p.buffers = 2;
      p.K_ = 0, p.Q = 4 * kSlab, p.W = 8 * kSlab, p.U = 9 * kSlab, p.AB = 10 * kSlab, p.buffer = 10 * kSlab + 1024;
      p.QK = 2 * p.buffer, p.copy = p.QK + kSlab;
      p.stage = p.copy + 4 * kSlab;
    }
    p.bars = p.stage + 2 * kStageBytes;
    // K = 256: the buffers' two, QK's.
    p.bytes = p.bars + 8 * 3;
    return p;
  }
};
} // namespace

BuiltKernel buildSplitScanWarpgroupKernel(delta::RecurrenceOp rec, int64_t VT, int64_t UT, StringRef name,
                                          StringRef variant, Type io) {
  const int64_t K = rec.getKeyDim(), V = rec.getValueDim(), C = kChunk;
  if ((K != 128 && K != 256) || V % kCols || kCols % VT || !KernelBuilder::isUngated(rec) || !io ||
      io.getIntOrFloatBitWidth() != 16 || kCols % UT)
    return {};
  const Workspace wsp = Workspace::of(rec, UT, /*inBlocks=*/true);
  if (!(wsp.thin ? wsp.swizzled(Workspace::T) : wsp.blocked(Workspace::W)) || !wsp.blocked(Workspace::Q) ||
      !wsp.blocked(Workspace::K_) || !wsp.swizzled(Workspace::QK) || wsp.thin != (K == 256))
    return {};
  const Plan plan = Plan::of(K);
  // At K = 256 the products with S^T take it from its f16 copy in shared
  // memory; at K = 128 from registers.
  const bool copied = plan.copy >= 0;
  KernelBuilder kb = KernelBuilder::gpu(rec, "gpu-chunked", name, io, /*workspace=*/true, V / VT);
  OpBuilder &b = kb.builder();
  Location l = kb.loc();
  MLIRContext *ctx = b.getContext();
  Chunked ck{kb, b, l, K, V, Value(), Value(), b.getF16Type(), b.getF32Type()};
  Value smem = ck.begin(
      VT, variant, "split",
      "split, second kernel (sm_90a, warpgroups): blocks at a multiple of 64 value columns each take 64 (the "
      "others return at once); warpgroup 0 holds the state transposed, S^T (64 x " +
          std::to_string(K) + "), as wgmma accumulators and per chunk runs " +
          (copied ? "Y^T = diag(b) V^T - (S^T K^T) diag(a), Delta^T = Y^T T^T" : "Delta^T = U^T - S^T W^T") +
          ", O^T = S^T Q^T + Delta^T QK^T, S^T += Delta^T K by wgmma (" +
          (copied ? "S^T from its f16 copy in shared memory, written after each chunk's update, Y^T and Delta^T "
                    "from registers"
                  : "A from registers") +
          ", B by descriptors from shared memory in 128-byte swizzled slabs), O^T staged in shared memory "
          "(stmatrix.trans) while the next chunk's Delta runs; warpgroup 1 brings each chunk's rows by bulk copies (a "
          "slab per 64 columns of " +
          (copied ? "Q and K, T, QK, a and b): " : "W, Q and K, QK, U) ") +
          (copied ? "those of Q and K, T, a and b, with the block's columns of v by cp.async, into two buffers, two "
                    "chunks ahead, those of QK into one place, a chunk ahead and issued first, each completing on its "
                    "mbarrier"
                  : "into three buffers, two chunks ahead, completing on the buffer's mbarrier") +
          ", and stores the staged O^T to o (named barriers between the two)",
      kWgThreads);
  smem = ck.alignShared(smem);
  const int64_t sharedBytes = plan.bytes + 1024;
  auto sharedTy = [&](int64_t n, Type elem) {
    return MemRefType::get({n}, elem, MemRefLayoutAttrInterface(),
                           gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup));
  };
  // The whole of it as f16, and the stage as the storage type.
  Value all = memref::ViewOp::create(b, l, sharedTy(plan.bytes / 2, ck.f16), smem, kb.idx(0), ValueRange{});
  Value stage = memref::ViewOp::create(b, l, sharedTy(2 * 64 * 64, io), smem, kb.idx(plan.stage), ValueRange{});
  Value smemBase = ck.address(smem, kb.idx(0)); // i64, in the shared window

  NVVM::GriddepcontrolOp::create(b, l, NVVM::GridDepActionKind::launch_dependents);
  auto i32c = [&](int64_t v) { return arith::ConstantIntOp::create(b, l, v, 32).getResult(); };
  auto i64c = [&](int64_t v) { return arith::ConstantIntOp::create(b, l, v, 64).getResult(); };
  const Value zero = kb.idx(0);
  Value tileY = kb.tile();
  Value active = ck.eq(ck.rem(tileY, kCols / VT), zero);
  ck.when(active, [&] {
    Value v0 = kb.imul(tileY, kb.idx(VT));
    Value cb = kb.imul(kb.chunkBegin(), kb.idx(C));
    Value ce = arith::MinSIOp::create(b, l, kb.len(), kb.imul(kb.chunkEnd(), kb.idx(C)));
    const WorkRows wr(ck, wsp);
    Value ws = kb.workHalf();
    // The warpgroup's number through a shuffle from lane 0, so that ptxas
    // sees the branches on it as uniform in each warp (wgmma in a branch it
    // takes for divergent is serialized).
    Value wgIndex = arith::IndexCastOp::create(b, l, b.getI32Type(), ck.div(ck.tid, 128));
    wgIndex = gpu::ShuffleOp::create(b, l, wgIndex, 0, 32, gpu::ShuffleMode::IDX).getShuffleResult();
    Value consumer = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, wgIndex, i32c(0));
    Value threads = i32c(kWgThreads);

    auto ptrTo = [&](unsigned space, Value address) {
      return LLVM::IntToPtrOp::create(b, l, LLVM::LLVMPointerType::get(ctx, space), address).getResult();
    };
    auto i32v = [&](Value x) { return arith::IndexCastOp::create(b, l, b.getI32Type(), x).getResult(); };
    // mbarrier `i`: buffer i's (K = 128: i < 3; K = 256: i < 2, then QK's
    // (2)).
    auto fullBar = [&](Value i) {
      return ptrTo(3, ck.address(smem, kb.iadd(kb.idx(plan.bars), kb.imul(i, kb.idx(8)))));
    };
    // Byte `extra` of field f's place for the chunk in buffer `par`.
    auto place = [&](Workspace::Field f, Value par, int64_t extra = 0) {
      if (!plan.buffered(f))
        return kb.idx(plan.at(f) + extra);
      return kb.iadd(kb.imul(par, kb.idx(plan.buffer)), kb.idx(plan.at(f) + extra));
    };
    using F = Workspace::Field;
    // The producer: the listed fields of chunk c0's live rows by bulk copies
    // (each 64 columns of W, Q and K a slab; QK; U's tiles) into buffer
    // `par`, completing on mbarrier `bar`; issued by the warpgroup's first
    // thread. Rows past the live ones keep what they held (zeros, or an
    // earlier chunk's rows).
    auto issue = [&](Value c0, Value par, Value bar, ArrayRef<Workspace::Field> fields) {
      ck.when(ck.eq(ck.tid, kb.idx(128)), [&] {
        Value n = liveRows(ck, c0);
        Value row = wr.row(kb, c0);
        int64_t rowBytes = 0;
        for (Workspace::Field f : fields)
          rowBytes += f == Workspace::U                               ? 2 * kCols
                      : f == Workspace::QK || (wsp.thin && f == F::T) ? 128
                      : f == Workspace::AB                            ? 16
                                                                      : 2 * K;
        NVVM::MBarrierArriveExpectTxOp::create(b, l, Type(), fullBar(bar), i32v(kb.imul(n, kb.idx(rowBytes))),
                                               NVVM::MemScopeKind::CTA, false, Value());
        auto bulkCopy = [&](Value at, Value src, int64_t bytes) {
          Value dst = ptrTo(7, ck.address(smem, at));
          Value from = ptrTo(1, ck.address(ws, kb.imul(src, kb.idx(2))));
          NVVM::CpAsyncBulkGlobalToSharedClusterOp::create(b, l, dst, from, fullBar(bar),
                                                           i32v(kb.imul(n, kb.idx(bytes))), Value(), Value());
        };
        for (Workspace::Field f : fields) {
          if (f == Workspace::U) {
            // The workspace's tiles of UT columns that hold this block's
            // 64, each a piece of 64 rows x UT.
            Value uTile = ck.div(v0, UT);
            for (int64_t u = 0; u < kCols / UT; ++u)
              bulkCopy(place(f, par, u * 64 * UT * 2), wr.at(kb, Workspace::U, row, zero, kb.iadd(uTile, kb.idx(u))),
                       2 * UT);
          } else if (f == Workspace::QK || (wsp.thin && f == F::T)) {
            bulkCopy(place(f, par), wr.at(kb, f, row, zero), 128);
          } else if (f == Workspace::AB) {
            bulkCopy(place(f, par), wr.at(kb, f, row, zero), 16);
          } else {
            for (int64_t h = 0; h < plan.slabs; ++h)
              bulkCopy(place(f, par, h * kSlab), wr.at(kb, f, row, kb.idx(64 * h)), 128);
          }
        }
      });
    };
    const SmallVector<F> bufferFields =
        copied ? SmallVector<F>{F::K_, F::Q, F::T, F::AB} : SmallVector<F>{F::W, F::Q, F::K_, F::QK, F::U};
    // (K = 256) The block's 64 columns of v for chunk c0 into buffer `par`
    // by cp.async, four 16-byte pieces a producer thread (row i's piece j
    // at j xor (i mod 8); rows past the live ones zero-filled), completing
    // on the buffer's mbarrier (an arrival of each thread's).
    Value allIo = memref::ViewOp::create(b, l, sharedTy(plan.bytes / 2, io), smem, kb.idx(0), ValueRange{});
    auto issueValues = [&](Value c0, Value par) {
      auto tokenTy = nvgpu::DeviceAsyncTokenType::get(ctx);
      Value n = liveRows(ck, c0);
      Value pid = arith::SubIOp::create(b, l, ck.tid, kb.idx(128));
      for (int64_t m = 0; m < 4; ++m) {
        Value e = kb.iadd(pid, kb.idx(128 * m));
        Value i = ck.div(e, 8), j = ck.rem(e, 8);
        Value src = kb.iadd(kb.imul(chunkRow(ck, c0, i, n), kb.idx(V)), kb.iadd(v0, kb.imul(j, kb.idx(8))));
        Value dst =
            kb.iadd(place(F::U, par), kb.iadd(kb.imul(i, kb.idx(128)),
                                              kb.imul(arith::XOrIOp::create(b, l, j, ck.rem(i, 8)), kb.idx(16))));
        nvgpu::DeviceAsyncCopyOp::create(b, l, tokenTy, allIo, ValueRange{ck.div(dst, 2)}, kb.v(), ValueRange{src},
                                         b.getIndexAttr(8), ck.select(ck.lt(i, n), kb.idx(8), kb.idx(0)),
                                         b.getUnitAttr());
      }
      NVVM::CpAsyncMBarrierArriveOp::create(b, l, fullBar(par), true);
    };
    // Named barrier `id0 + x` for the runtime value x, its number in a
    // register (no branch on x: ptxas waits for every wgmma in flight where
    // the paths of such a branch meet).
    auto onBarrier = [&](int32_t id0, Value x, bool arriveOnly) {
      Value id = arith::IndexCastOp::create(b, l, b.getI32Type(), kb.iadd(x, kb.idx(id0)));
      if (arriveOnly)
        NVVM::BarrierArriveOp::create(b, l, id, threads);
      else
        NVVM::BarrierOp::create(b, l, Type(), id, threads, NVVM::BarrierReductionAttr(), Value());
    };

    // The consumer's lane coordinates: warp w of the warpgroup holds rows
    // 16 w + g (+ 8) of every accumulator, columns 8 j + 2 t (+ 1).
    Value lane = ck.rem(ck.tid, 32), w = ck.rem(ck.div(ck.tid, 32), 4);
    Value g = ck.div(lane, 4), t2 = kb.imul(ck.rem(lane, 4), kb.idx(2));
    Value use = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, kb.useH0(), zero);
    // Accumulator element e of an m64nN product: column block j = e / 4,
    // row half r = (e / 2) mod 2, column c = e mod 2.
    auto rowOfAcc = [&](int64_t e) { return kb.iadd(kb.imul(w, kb.idx(16)), kb.iadd(g, kb.idx(8 * (e / 2 % 2)))); };
    auto colOfAcc = [&](int64_t e) { return kb.iadd(t2, kb.idx(8 * (e / 4) + e % 2)); };
    // S^T[v][d] = h0[d][v0 + v].
    auto stateAt = [&](int64_t e) {
      return kb.iadd(kb.state(), kb.iadd(kb.imul(colOfAcc(e), kb.idx(V)), kb.iadd(v0, rowOfAcc(e))));
    };
    const int64_t sRegs = K / 2, dRegs = C / 2;
    auto f32 = ck.f32;
    Value fzero = kb.f32(0);
    SmallVector<Value> S0, O0(dRegs, fzero);
    for (int64_t e = 0; e < sRegs; ++e) {
      auto ld = scf::IfOp::create(b, l, TypeRange{f32}, arith::AndIOp::create(b, l, use, consumer), true);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ld.thenBlock());
      scf::YieldOp::create(b, l, kb.load(kb.h0(), stateAt(e)));
      b.setInsertionPointToStart(ld.elseBlock());
      scf::YieldOp::create(b, l, fzero);
      S0.push_back(ld.getResult(0));
    }
    // The workspace is read only after the first kernel is done (launched
    // early with programmatic stream serialization; else at once).
    NVVM::GriddepcontrolOp::create(b, l, NVVM::GridDepActionKind::wait);

    // f16 pairs of accumulators as A fragments: step kk's four registers.
    auto h2 = VectorType::get({2}, ck.f16);
    auto pack = [&](Value x, Value y) {
      Value v = vector::FromElementsOp::create(b, l, h2, ValueRange{ck.toF16(x), ck.toF16(y)});
      v = vector::BitCastOp::create(b, l, VectorType::get({1}, b.getI32Type()), v);
      return vector::ExtractOp::create(b, l, v, ArrayRef<int64_t>{0}).getResult();
    };
    auto fragments = [&](ArrayRef<Value> acc) {
      SmallVector<std::array<Value, 4>> a;
      for (size_t kk = 0; 8 * kk < acc.size(); ++kk) {
        size_t j = 2 * kk;
        a.push_back({pack(acc[4 * j], acc[4 * j + 1]), pack(acc[4 * j + 2], acc[4 * j + 3]),
                     pack(acc[4 * j + 4], acc[4 * j + 5]), pack(acc[4 * j + 6], acc[4 * j + 7])});
      }
      return a;
    };
    auto structOf = [&](size_t n) { return LLVM::LLVMStructType::getLiteral(ctx, SmallVector<Type>(n, f32)); };
    auto unpack = [&](Value s, size_t n) {
      SmallVector<Value> out;
      for (size_t e = 0; e < n; ++e)
        out.push_back(LLVM::ExtractValueOp::create(b, l, s, ArrayRef<int64_t>{int64_t(e)}));
      return out;
    };
    // wgmma m64nNk16, f32 += f16 x f16, A from registers (`a`) or by
    // descriptor (`aDesc`; negated with negA), B by descriptor (transposed
    // with transB); the accumulators start from `acc` or from zero.
    auto wgmmaOf = [&](ArrayRef<Value> acc, ArrayRef<Value> a, Value aDesc, Value desc, bool accumulate, bool negA,
                       bool transB) {
      const size_t n = acc.size();
      const size_t na = aDesc ? 1 : 4;
      // With A by descriptor, a product that starts from zero takes no
      // accumulators in (nothing for ptxas to move into them after the
      // fence).
      const size_t tied = aDesc && !accumulate ? 0 : n;
      std::string s = "{\n.reg .pred p;\nsetp.ne.b32 p, $" + std::to_string(n + tied + na + 1) +
                      ", 0;\nwgmma.mma_async.sync.aligned.m64n" + std::to_string(2 * n) + "k16.f32.f16.f16 {";
      std::string cons;
      for (size_t e = 0; e < n; ++e) {
        s += (e ? ", $" : "$") + std::to_string(e);
        cons += "=f,";
      }
      for (size_t e = 0; e < tied; ++e)
        cons += std::to_string(e) + ",";
      if (aDesc) {
        s += "}, $" + std::to_string(n + tied) + ", $" + std::to_string(n + tied + 1) + ", p, " + (negA ? "-1" : "1") +
             ", 1, 0, " + (transB ? "1" : "0") + ";\n}";
        cons += "l,l,r";
      } else {
        s += "}, {$" + std::to_string(2 * n) + ", $" + std::to_string(2 * n + 1) + ", $" + std::to_string(2 * n + 2) +
             ", $" + std::to_string(2 * n + 3) + "}, $" + std::to_string(2 * n + 4) + ", p, " + (negA ? "-1" : "1") +
             ", 1, " + (transB ? "1" : "0") + ";\n}";
        cons += "r,r,r,r,l,r";
      }
      SmallVector<Value> ops(acc.begin(), acc.begin() + tied);
      if (aDesc)
        ops.push_back(aDesc);
      else
        ops.append(a.begin(), a.end());
      ops.push_back(desc);
      ops.push_back(i32c(accumulate ? 1 : 0));
      Value r =
          LLVM::InlineAsmOp::create(b, l, structOf(n), ops, b.getStringAttr(s), b.getStringAttr(cons), b.getUnitAttr(),
                                    UnitAttr(), LLVM::TailCallKindAttr(), LLVM::AsmDialectAttr(), ArrayAttr())
              .getResult(0);
      return unpack(r, n);
    };
    auto wgmma = [&](ArrayRef<Value> acc, const std::array<Value, 4> &a, Value desc, bool accumulate, bool negA,
                     bool transB) { return wgmmaOf(acc, a, Value(), desc, accumulate, negA, transB); };
    // The accumulators after a wait: through an empty asm, so that nothing
    // reads them before it.
    auto settle = [&](ArrayRef<Value> acc) {
      const size_t n = acc.size();
      std::string cons;
      for (size_t e = 0; e < n; ++e)
        cons += "=f,";
      for (size_t e = 0; e < n; ++e)
        cons += std::to_string(e) + (e + 1 < n ? "," : "");
      Value r =
          LLVM::InlineAsmOp::create(b, l, structOf(n), acc, b.getStringAttr(""), b.getStringAttr(cons), b.getUnitAttr(),
                                    UnitAttr(), LLVM::TailCallKindAttr(), LLVM::AsmDialectAttr(), ArrayAttr())
              .getResult(0);
      return unpack(r, n);
    };
    auto fence = [&] { NVVM::WgmmaFenceAlignedOp::create(b, l); };
    auto commit = [&] { NVVM::WgmmaGroupSyncAlignedOp::create(b, l); };
    auto waitGroups = [&](int64_t pending) { NVVM::WgmmaWaitGroupSyncOp::create(b, l, pending); };
    // The descriptor of the 128-byte swizzled matrix at byte `at`: eight-row
    // groups 1024 bytes apart; transposed (MN-major) B, 64-column blocks a
    // slab apart.
    auto descriptorAt = [&](Value at, bool mnMajor) {
      Value addr = arith::AddIOp::create(b, l, smemBase, arith::IndexCastOp::create(b, l, b.getI64Type(), at));
      Value field = arith::ShRUIOp::create(b, l, arith::AndIOp::create(b, l, addr, i64c(0x3ffff)), i64c(4));
      const int64_t lead = mnMajor ? kSlab >> 4 : 1, stride = 1024 >> 4;
      return arith::OrIOp::create(b, l, field, i64c((lead << 16) | (stride << 32) | (int64_t(1) << 62))).getResult();
    };
    auto plus = [&](Value desc, int64_t bytes) {
      return arith::AddIOp::create(b, l, desc, i64c(bytes >> 4)).getResult();
    };
    Value scale = kb.f32(llvm::cast<FloatAttr>(kb.attr("delta.scale")).getValueAsDouble());
    // O^T times the scale into stage `st` by stmatrix.trans (row c, its
    // 16-byte piece p at p xor (c mod 8)), by the consumer.
    auto stageO = [&](ArrayRef<Value> O, Value st) {
      // The stages as a slab of 64 x 64 16-bit values each (its rows the
      // chunk's, O^T stored transposed).
      const Chunked::Twin stages{smem, plan.stage, kStageBytes, 64, 64, ck.f16, /*swizzled=*/true};
      Chunked::Mat X = Chunked::T(ck.at(stages, st));
      auto c2 = VectorType::get({2, 2}, f32);
      auto tile = [&](int64_t j) {
        return vector::FromElementsOp::create(b, l, c2, ValueRange{O[4 * j], O[4 * j + 1], O[4 * j + 2], O[4 * j + 3]})
            .getResult();
      };
      // Warp w's rows 16 w.. of O^T, columns 16 jj.. (O's rows).
      for (int64_t jj = 0; jj < 4; ++jj)
        ck.storeTileTransposed(X, {tile(2 * jj), tile(2 * jj + 1)}, kb.imul(w, kb.idx(16)), kb.idx(16 * jj), io, scale);
    };
    // S^T's f16 copy (K = 256) from its accumulators by stmatrix: step kk's
    // four 8 x 8 matrices (rows 16 w + 8 (m mod 2).., columns 16 kk + 8 (m /
    // 2)..), lane 8 m + q addressing row q of matrix m, its 16-byte piece p
    // of the slab's row r at p xor (r mod 8); then ordered before the
    // tensor cores' reads of it, across the warpgroup.
    auto copyState = [&](ArrayRef<Value> S) {
      Value m = ck.div(lane, 8), q = ck.rem(lane, 8);
      Value r = kb.iadd(kb.iadd(kb.imul(w, kb.idx(16)), kb.imul(ck.rem(m, 2), kb.idx(8))), q);
      for (int64_t kk = 0; kk < K / 16; ++kk) {
        const int64_t slab = kk / 4;
        Value piece = kb.iadd(kb.idx(kk % 4 * 2), ck.div(m, 2));
        Value at =
            kb.iadd(kb.idx(plan.copy + slab * kSlab),
                    kb.iadd(kb.imul(r, kb.idx(128)), kb.imul(arith::XOrIOp::create(b, l, piece, q), kb.idx(16))));
        auto a = fragments(S.slice(8 * kk, 8));
        NVVM::StMatrixOp::create(b, l, ptrTo(3, ck.address(smem, at)), ValueRange(a[0]), NVVM::MMALayout::row,
                                 NVVM::LdStMatrixShapeAttr::get(ctx, 8, 8), NVVM::LdStMatrixEltType::B16);
      }
      ck.fenceAsyncShared();
      ck.namedBarrier(kCopied, 128);
    };
    // Stage `st` (the chunk at c0, n live rows) to o in 16-byte pieces of
    // rows, by the producer.
    auto storeO = [&](Value st, Value c0, Value n) {
      auto v8 = VectorType::get({8}, io);
      Value pid = arith::SubIOp::create(b, l, ck.tid, kb.idx(128));
      Value pp = ck.rem(pid, 8);
      for (int64_t mm = 0; mm < 4; ++mm) {
        Value c = kb.iadd(ck.div(pid, 8), kb.idx(16 * mm));
        ck.when(ck.lt(c, n), [&] {
          Value at8 = arith::XOrIOp::create(b, l, pp, ck.rem(c, 8));
          Value x =
              vector::LoadOp::create(b, l, v8, stage,
                                     ValueRange{kb.iadd(kb.imul(st, kb.idx(64 * 64)),
                                                        kb.iadd(kb.imul(c, kb.idx(64)), kb.imul(at8, kb.idx(8))))},
                                     false, llvm::MaybeAlign(16));
          Value at = kb.iadd(kb.imul(kb.tokenRow(kb.iadd(c0, c)), kb.idx(V)), kb.iadd(v0, kb.imul(pp, kb.idx(8))));
          vector::StoreOp::create(b, l, x, kb.o(), ValueRange{at}, false, llvm::MaybeAlign(16));
        });
      }
    };

    Value any = ck.lt(cb, ce);
    // The buffers zeroed (rows past a partial chunk then hold zeros or an
    // earlier chunk's rows, finite either way: Delta^T's columns past the
    // live rows are set to zero before they meet K), the mbarriers set up,
    // before any copy.
    auto z8 =
        arith::ConstantOp::create(b, l, DenseElementsAttr::get(VectorType::get({8}, ck.f16), b.getF16FloatAttr(0.0)));
    {
      kb.loop(ck.tid, kb.idx((copied ? plan.copy : plan.stage) / 16), kWgThreads, [&](Value e) {
        vector::StoreOp::create(b, l, z8, all, ValueRange{kb.imul(e, kb.idx(8))}, false, llvm::MaybeAlign(16));
      });
      ck.fenceAsyncShared();
      ck.when(ck.eq(ck.tid, zero), [&] {
        // (K = 256: a buffer's mbarrier also waits for the producer's
        // threads' cp.async of the values, an arrival each.)
        for (int64_t i = 0; i < plan.buffers + (copied ? 1 : 0); ++i)
          NVVM::MBarrierInitOp::create(b, l, fullBar(kb.idx(i)), i32c(copied && i < 2 ? 129 : 1), Value());
        NVVM::FenceMbarrierInitOp::create(b, l);
      });
      ck.barrier();
    }
    const Value qkBar = kb.idx(2);
    // The producer warpgroup: chunk k's rows into buffer k mod 3 (K = 128),
    // two chunks ahead; or into buffer k mod 2, two chunks ahead, and its QK
    // a chunk ahead, as their places are free (K = 256); the chunk before's
    // O^T from its stage to o.
    Value lastC0 = kb.imul(ck.div(arith::SubIOp::create(b, l, ce, kb.idx(1)), C), kb.idx(C));
    auto chunkNo = [&](Value c0) { return ck.div(arith::SubIOp::create(b, l, c0, cb), C); };
    ck.when(arith::AndIOp::create(
                b, l, any, arith::XOrIOp::create(b, l, consumer, arith::ConstantIntOp::create(b, l, b.getI1Type(), 1))),
            [&] {
              issue(cb, zero, zero, bufferFields);
              if (copied)
                issueValues(cb, zero);
              ck.when(ck.lt(kb.iadd(cb, kb.idx(C)), ce), [&] {
                issue(kb.iadd(cb, kb.idx(C)), kb.idx(1), kb.idx(1), bufferFields);
                if (copied)
                  issueValues(kb.iadd(cb, kb.idx(C)), kb.idx(1));
              });
              if (copied)
                issue(cb, zero, qkBar, {F::QK});
              kb.loop(cb, ce, C, [&](Value c0) {
                Value k = chunkNo(c0);
                Value next = kb.iadd(c0, kb.idx(C)), after = kb.iadd(c0, kb.idx(2 * C));
                ck.when(ck.lt(cb, c0), [&] {
                  // O^T of chunk k - 1, staged by the consumer during chunk k.
                  Value j = arith::SubIOp::create(b, l, k, kb.idx(1));
                  Value st = ck.rem(j, 2);
                  onBarrier(kStaged, st, false);
                  storeO(st, arith::SubIOp::create(b, l, c0, kb.idx(C)), kb.idx(C));
                  ck.when(ck.lt(next, ce), [&] { onBarrier(kStored, st, true); });
                });
                if (copied) {
                  // Once all of chunk k's products are done: QK's place
                  // for chunk k + 1 first (wanted half a chunk in; an SM's
                  // bulk copies land in the order they are issued), then
                  // buffer k mod 2 for chunk k + 2.
                  ck.when(ck.lt(next, ce), [&] {
                    onBarrier(kEmptyK, zero, false);
                    issue(next, zero, qkBar, {F::QK});
                  });
                  ck.when(ck.lt(after, ce), [&] {
                    Value par = ck.rem(k, 2);
                    onBarrier(kEmpty, par, false);
                    issue(after, par, par, bufferFields);
                    issueValues(after, par);
                  });
                } else {
                  ck.when(ck.lt(after, ce), [&] {
                    // Buffer (k + 2) mod 3 was chunk k - 1's.
                    ck.when(ck.lt(cb, c0),
                            [&] { onBarrier(kEmpty, ck.rem(kb.iadd(k, kb.idx(2)), plan.buffers), false); });
                    Value par = ck.rem(kb.iadd(k, kb.idx(2)), plan.buffers);
                    issue(after, par, par, bufferFields);
                  });
                }
              });
              // The last chunk's O^T.
              Value st = ck.rem(chunkNo(lastC0), 2);
              onBarrier(kStaged, st, false);
              storeO(st, lastC0, arith::SubIOp::create(b, l, ce, lastC0));
            });
    // The consumer warpgroup: S^T and the last chunk's O^T carried.
    auto ifConsumer = scf::IfOp::create(b, l, consumer, false);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifConsumer.thenBlock());
      if (copied)
        copyState(S0);
      // (K = 256: each chunk's O^T staged at its end, S^T alone carried.)
      SmallVector<Value> init(S0);
      if (!copied)
        init.append(O0);
      SmallVector<Value> last = kb.carry(cb, ce, C, init, [&](Value c0, ValueRange carried) {
        SmallVector<Value> S(carried.begin(), carried.begin() + sRegs), O(carried.begin() + sRegs, carried.end());
        if (copied)
          O = O0;
        Value k = chunkNo(c0);
        Value p = ck.rem(k, plan.buffers);
        // Buffer p's use k / buffers completes phase (k / buffers) mod 2 of
        // its mbarrier.
        NVVM::MBarrierTryWaitParityOp::create(b, l, fullBar(p), i32v(ck.rem(ck.div(k, plan.buffers), 2)), i32c(0));
        // A partial chunk (the launch's last): the rows of W and U past its
        // live ones zeroed (they hold an earlier chunk's), so that Delta^T's
        // columns there are zero before they meet K's rows. (Masking Delta^T
        // in registers instead makes ptxas serialize the wgmma, C7514.)
        {
          Value n = liveRows(ck, c0);
          ck.when(ck.lt(n, kb.idx(C)), [&] {
            Value buf = kb.imul(p, kb.idx(plan.buffer));
            if (copied) {
              // K = 256: K's rows past the live ones (the values' are
              // zero-filled by their copies), so that Y^T's columns there
              // are zero and Delta^T's meet zero rows of K.
              kb.loop(ck.tid, kb.idx(plan.slabs * 64 * 8), 128, [&](Value e) {
                Value row = ck.rem(ck.div(e, 8), 64);
                Value at = kb.iadd(kb.iadd(kb.idx(plan.K_), kb.imul(ck.div(e, 512), kb.idx(kSlab))),
                                   kb.iadd(kb.imul(row, kb.idx(128)), kb.imul(ck.rem(e, 8), kb.idx(16))));
                ck.when(ck.le(n, row), [&] {
                  vector::StoreOp::create(b, l, z8, all, ValueRange{ck.div(kb.iadd(buf, at), 2)}, false,
                                          llvm::MaybeAlign(16));
                });
              });
              ck.fenceAsyncShared();
              ck.namedBarrier(kZeroed, 128);
              return;
            }
            // Pieces of 16 bytes: W's slabs (8 a row), then U's tiles
            // (UT / 8 a row each).
            const int64_t wPieces = plan.slabs * 64 * 8, uPieces = 64 * 8;
            kb.loop(ck.tid, kb.idx(wPieces + uPieces), 128, [&](Value e) {
              Value inW = ck.lt(e, kb.idx(wPieces));
              Value eu = arith::SubIOp::create(b, l, e, kb.idx(wPieces));
              // W: slab e / 512, row (e / 8) mod 64, piece e mod 8.
              Value wRow = ck.rem(ck.div(e, 8), 64);
              Value wAt = kb.iadd(kb.iadd(kb.idx(plan.W), kb.imul(ck.div(e, 512), kb.idx(kSlab))),
                                  kb.iadd(kb.imul(wRow, kb.idx(128)), kb.imul(ck.rem(e, 8), kb.idx(16))));
              // U: tile eu / (8 * 64 * UT / 64), row, piece within the row.
              const int64_t perRow = 2 * UT / 16;
              Value uRow = ck.rem(ck.div(eu, perRow), 64);
              Value uAt = kb.iadd(kb.iadd(kb.idx(plan.U), kb.imul(ck.div(eu, perRow * 64), kb.idx(64 * UT * 2))),
                                  kb.iadd(kb.imul(uRow, kb.idx(2 * UT)), kb.imul(ck.rem(eu, perRow), kb.idx(16))));
              Value row = ck.select(inW, wRow, uRow), at = ck.select(inW, wAt, uAt);
              ck.when(ck.le(n, row), [&] {
                vector::StoreOp::create(b, l, z8, all, ValueRange{ck.div(kb.iadd(buf, at), 2)}, false,
                                        llvm::MaybeAlign(16));
              });
            });
            ck.fenceAsyncShared();
            ck.namedBarrier(kZeroed, 128);
          });
        }
        // Delta^T starts from U^T (K = 256: Y^T from V^T, the values in the
        // storage type): ldmatrix.trans of its 8 x 8 blocks (rows c = 8 j +
        // q, columns v of piece 2 w + r: in U's tile 8 piece / UT, rows of
        // UT; the values' rows of 128 bytes, piece v / 8 at (v / 8) xor (c
        // mod 8)).
        SmallVector<Value> D(dRegs);
        auto loadStart = [&] {
          Value q = ck.rem(lane, 8), m = ck.div(lane, 8);
          for (int64_t jj = 0; jj < 4; ++jj) {
            Value c = kb.iadd(kb.imul(kb.iadd(kb.idx(2 * jj), ck.div(m, 2)), kb.idx(8)), q);
            Value piece = kb.iadd(kb.imul(w, kb.idx(2)), ck.rem(m, 2)), col = kb.imul(piece, kb.idx(8));
            Value el = copied
                           ? kb.iadd(place(F::U, p),
                                     kb.iadd(kb.imul(c, kb.idx(128)),
                                             kb.imul(arith::XOrIOp::create(b, l, piece, ck.rem(c, 8)), kb.idx(16))))
                           : kb.iadd(place(F::U, p), kb.imul(kb.iadd(kb.imul(ck.div(col, UT), kb.idx(64 * UT)),
                                                                     kb.iadd(kb.imul(c, kb.idx(UT)), ck.rem(col, UT))),
                                                             kb.idx(2)));
            el = ck.div(el, 2);
            Value x = nvgpu::LdMatrixOp::create(b, l, VectorType::get({4, 2}, ck.f16), all, ValueRange{el}, true, 4);
            for (int64_t mm = 0; mm < 4; ++mm) {
              int64_t j = 2 * jj + mm / 2, r = mm % 2;
              Value pair = vector::ExtractOp::create(b, l, x, ArrayRef<int64_t>{mm});
              if (copied && io != ck.f16)
                pair = vector::BitCastOp::create(b, l, VectorType::get({2}, io), pair);
              for (int64_t c2 = 0; c2 < 2; ++c2)
                D[4 * j + 2 * r + c2] = arith::ExtFOp::create(
                    b, l, f32, vector::ExtractOp::create(b, l, pair, ArrayRef<int64_t>{c2}).getResult());
            }
          }
        };
        // (K = 256: the values once S^T K^T is done, so that their registers
        // are not taken while its group, S^T Q^T's and S^T are.)
        if (!copied)
          loadStart();
        // (K = 256: the descriptors of the places that do not move with the
        // chunk through an opaque copy in the loop, so that LLVM does not
        // hoist each step's descriptor out of it into registers of their own:
        // ptxas spilled 148 bytes with them, none without.)
        auto opaque = [&](Value d) {
          if (!copied)
            return d;
          return LLVM::InlineAsmOp::create(b, l, b.getI64Type(), ValueRange{d}, b.getStringAttr("mov.b64 $0, $1;"),
                                           b.getStringAttr("=l,l"), b.getUnitAttr(), UnitAttr(),
                                           LLVM::TailCallKindAttr(), LLVM::AsmDialectAttr(), ArrayAttr())
              .getResult(0);
        };
        Value dW = descriptorAt(place(F::W, p), false), dQ = opaque(descriptorAt(place(F::Q, p), false)),
              dK = opaque(descriptorAt(place(F::K_, p), true)), dQK = opaque(descriptorAt(place(F::QK, p), false));
        // (K = 256: K read K-major too, for S^T K^T; T in W's place.)
        Value dKRows = copied ? opaque(descriptorAt(place(F::K_, p), false)) : Value();
        auto kMajor = [&](Value d, int64_t kk) { return plus(d, kk / 4 * kSlab + kk % 4 * 32); };
        // The products with S^T: A from registers, or from its copy.
        SmallVector<std::array<Value, 4>> AS;
        Value dS;
        if (copied)
          dS = opaque(descriptorAt(kb.idx(plan.copy), false));
        else
          AS = fragments(S);
        auto timesS = [&](ArrayRef<Value> acc, Value dB, int64_t kk, bool accumulate, bool negA) {
          if (copied)
            return wgmmaOf(acc, {}, kMajor(dS, kk), kMajor(dB, kk), accumulate, negA, false);
          return wgmma(acc, AS[kk], kMajor(dB, kk), accumulate, negA, false);
        };
        // (K = 256: S^T Q^T in a group of its own right after Delta^T's, both
        // reading the copy of S^T, so that it runs while Delta^T's
        // accumulators become A fragments: measured, B2 T16384 H16 D256
        // 1.49 -> 1.42 ms, bit for bit the same outputs.)
        SmallVector<Value> X(copied ? dRegs : 0, fzero); // S^T K^T (K = 256)
        fence();
        for (int64_t kk = 0; kk < K / 16; ++kk) {
          if (copied)
            X = timesS(X, dKRows, kk, kk > 0, false);
          else
            D = timesS(D, dW, kk, true, true);
        }
        commit();
        if (copied) {
          for (int64_t kk = 0; kk < K / 16; ++kk)
            O = timesS(O, dQ, kk, kk > 0, false);
          commit();
        }
        // O^T of chunk j (the chunk before, or this one at K = 256) to stage
        // j mod 2 once the producer has stored chunk j - 2's from it.
        auto stageChunk = [&](ArrayRef<Value> done, Value j) {
          Value st = ck.rem(j, 2);
          ck.when(ck.le(kb.idx(2), j), [&] { onBarrier(kStored, st, false); });
          stageO(done, st);
          onBarrier(kStaged, st, true);
        };
        if (copied) {
          // K = 256: S^T K^T and S^T Q^T first, without the update (so that
          // few accumulators are in flight at once: S^T takes 128 registers
          // a thread); once S^T K^T is done, the values and the token's a
          // and b of the lane's sixteen columns (c = 8 j + 2 t + c2: element
          // 4 j + c2).
          waitGroups(1);
          X = settle(X);
          loadStart();
          SmallVector<Value> aOf(16), bOf(16);
          for (int64_t e = 0; e < 16; ++e) {
            Value t = colOfAcc(4 * (e / 2) + e % 2);
            Value el = ck.div(kb.iadd(place(F::AB, p), kb.imul(t, kb.idx(16))), 2);
            Value x = vector::LoadOp::create(b, l, VectorType::get({4}, ck.f16), all, ValueRange{el}, false,
                                             llvm::MaybeAlign(8));
            x = vector::BitCastOp::create(b, l, VectorType::get({2}, f32), x);
            aOf[e] = vector::ExtractOp::create(b, l, x, ArrayRef<int64_t>{0});
            bOf[e] = vector::ExtractOp::create(b, l, x, ArrayRef<int64_t>{1});
          }
          // Y^T = V^T diag(b) - (S^T K^T) diag(a), then Delta^T = Y^T T^T
          // (A from registers, T K-major like QK), from zero.
          SmallVector<Value> Y(dRegs);
          for (int64_t e = 0; e < dRegs; ++e) {
            int64_t c = 2 * (e / 4) + e % 2;
            Y[e] = arith::SubFOp::create(b, l, kb.mul(bOf[c], D[e]), kb.mul(aOf[c], X[e]));
          }
          auto AY = fragments(Y);
          fence();
          for (int64_t kk = 0; kk < C / 16; ++kk)
            D = wgmma(D, AY[kk], plus(dW, kk * 32), kk > 0, false, false);
          commit();
          waitGroups(0);
          D = settle(D);
          O = settle(O);
          auto AD = fragments(D);
          // Then in one group the update and Delta^T QK^T (into O, after S^T
          // Q^T's group).
          NVVM::MBarrierTryWaitParityOp::create(b, l, fullBar(qkBar), i32v(ck.rem(k, 2)), i32c(0));
          fence();
          for (int64_t kk = 0; kk < C / 16; ++kk)
            for (int64_t h = 0; h < K / 128; ++h) {
              ArrayRef<Value> Sh = ArrayRef<Value>(S).slice(h * 64, 64);
              SmallVector<Value> r = wgmma(Sh, AD[kk], plus(dK, kk * 16 * 128 + h * 2 * kSlab), true, false, true);
              std::copy(r.begin(), r.end(), S.begin() + h * 64);
            }
          for (int64_t kk = 0; kk < C / 16; ++kk)
            O = wgmma(O, AD[kk], plus(dQK, kk * 32), true, false, false);
          commit();
          waitGroups(0);
          S = settle(S);
          O = settle(O);
          // Buffer k mod 2 free for chunk k + 2, QK's place for chunk k + 1.
          ck.when(ck.lt(kb.iadd(c0, kb.idx(2 * C)), ce), [&] { onBarrier(kEmpty, ck.rem(k, 2), true); });
          ck.when(ck.lt(kb.iadd(c0, kb.idx(C)), ce), [&] { onBarrier(kEmptyK, zero, true); });
          copyState(S);
          stageChunk(O, k);
        } else {
          // The chunk before's O^T to o while Delta^T runs; its buffer free.
          auto ifPrev = scf::IfOp::create(b, l, TypeRange(SmallVector<Type>(dRegs, f32)), ck.lt(cb, c0), true);
          {
            OpBuilder::InsertionGuard g2(b);
            b.setInsertionPointToStart(ifPrev.thenBlock());
            waitGroups(1);
            SmallVector<Value> done = settle(O);
            // Chunk k - 1's buffer free for chunk k + 2.
            ck.when(ck.lt(kb.iadd(c0, kb.idx(2 * C)), ce),
                    [&] { onBarrier(kEmpty, ck.rem(kb.iadd(k, kb.idx(2)), plan.buffers), true); });
            stageChunk(done, arith::SubIOp::create(b, l, k, kb.idx(1)));
            scf::YieldOp::create(b, l, done);
            b.setInsertionPointToStart(ifPrev.elseBlock());
            scf::YieldOp::create(b, l, O);
          }
          O.assign(ifPrev.getResults().begin(), ifPrev.getResults().end());
          fence();
          for (int64_t kk = 0; kk < K / 16; ++kk)
            O = timesS(O, dQ, kk, kk > 0, false);
          commit();
          waitGroups(1);
          D = settle(D);
          auto AD = fragments(D);
          fence();
          for (int64_t kk = 0; kk < C / 16; ++kk)
            S = wgmma(S, AD[kk], plus(dK, kk * 16 * 128), true, false, true);
          commit();
          for (int64_t kk = 0; kk < C / 16; ++kk)
            O = wgmma(O, AD[kk], plus(dQK, kk * 32), true, false, false);
          commit();
          waitGroups(1);
          S = settle(S);
        }
        SmallVector<Value> next(S);
        if (!copied)
          next.append(O);
        return next;
      });
      SmallVector<Value> S(last.begin(), last.begin() + sRegs), O(last.begin() + sRegs, last.end());
      if (!copied)
        ck.when(any, [&] {
          waitGroups(0);
          SmallVector<Value> done = settle(O);
          Value j = chunkNo(lastC0), st = ck.rem(j, 2);
          ck.when(ck.le(kb.idx(2), j), [&] { onBarrier(kStored, st, false); });
          stageO(done, st);
          onBarrier(kStaged, st, true);
        });
      for (int64_t e = 0; e < sRegs; ++e)
        kb.store(S[e], kb.ht(), stateAt(e));
    }
  });
  return finishSplitKernel(kb, wsp, sharedBytes);
}

} // namespace deltac
