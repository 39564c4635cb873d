//===- ChunkedGpu.cpp - pieces of the chunked GPU kernels -----------------===//
#include "ChunkedGpu.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace deltac {

using Mat = Chunked::Mat;

namespace {
/// The padded layout of a rows x cols matrix of `elem` (cols == 1: a
/// vector), or its swizzled one: its leading dimension and its bytes,
/// rounded up to 128 (1024 when swizzled).
struct Padded {
  int64_t ld, bytes;
  Padded(int64_t rows, int64_t cols, Type elem, bool swizzled, bool rowSwizzled = false) {
    int64_t eb = elem.getIntOrFloatBitWidth() / 8;
    ld = cols == 1 || swizzled || rowSwizzled ? cols : cols + 16 / eb;
    int64_t align = swizzled ? 1024 : 128;
    bytes = (rows * ld * eb + align - 1) / align * align;
  }
};
} // namespace

/// A view of the padded matrix at byte `shift` of `base`.
static Mat viewAt(OpBuilder &b, Location l, Value base, Value shift, int64_t rows, int64_t cols, Type elem,
                  bool swizzled, bool rowSwizzled = false) {
  Padded p(rows, cols, elem, swizzled, rowSwizzled);
  assert((!swizzled || (elem.isF16() && cols % 64 == 0 && rows % 8 == 0)) && "whole swizzle atoms");
  SmallVector<int64_t> shape = cols == 1   ? SmallVector<int64_t>{rows}
                               : swizzled ? SmallVector<int64_t>{rows * cols}
                                          : SmallVector<int64_t>{rows, p.ld};
  auto ty = MemRefType::get(shape, elem, MemRefLayoutAttrInterface(),
                            gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup));
  Mat m{memref::ViewOp::create(b, l, ty, base, shift, ValueRange{}), p.ld};
  m.swizzled = swizzled;
  m.rowSwizzled = rowSwizzled;
  assert((!m.rowSwizzled || (elem.getIntOrFloatBitWidth() == 16 && cols % 64 == 0)) && "whole groups of pieces");
  return m;
}

static int64_t alignUp(int64_t x, int64_t a) { return (x + a - 1) / a * a; }

Mat Chunked::view(Value base, int64_t &offset, int64_t rows, int64_t cols, Type elem, bool swizzled,
                  bool rowSwizzled) {
  if (swizzled)
    offset = alignUp(offset, 1024);
  Mat m = viewAt(b, l, base, kb.idx(offset), rows, cols, elem, swizzled, rowSwizzled);
  offset += Padded(rows, cols, elem, swizzled, rowSwizzled).bytes;
  return m;
}

Chunked::Twin Chunked::twin(Value base, int64_t &offset, int64_t rows, int64_t cols, Type elem, bool swizzled,
                            bool rowSwizzled) {
  if (swizzled)
    offset = alignUp(offset, 1024);
  Twin t{base, offset, Padded(rows, cols, elem, swizzled, rowSwizzled).bytes, rows, cols, elem, swizzled, rowSwizzled};
  offset += 2 * t.bytes;
  return t;
}

int64_t Chunked::paddedBytes(int64_t rows, int64_t cols, Type elem, bool rowSwizzled) {
  return Padded(rows, cols, elem, false, rowSwizzled).bytes;
}

Mat Chunked::at(const Twin &t, Value parity) {
  Value shift = kb.iadd(kb.idx(t.offset), kb.imul(parity, kb.idx(t.bytes)));
  return viewAt(b, l, t.base, shift, t.rows, t.cols, t.elem, t.swizzled, t.rowSwizzled);
}

std::optional<Chunked::Twin> Chunked::alias(const Twin &t, int64_t rows, int64_t cols, Type elem) {
  if (Padded(rows, cols, elem, false).bytes > t.bytes)
    return std::nullopt;
  return Twin{t.base, t.offset, t.bytes, rows, cols, elem, false};
}

Value Chunked::alignShared(Value smem) {
  Value addr = memref::ExtractAlignedPointerAsIndexOp::create(b, l, smem);
  Value pad = rem(arith::SubIOp::create(b, l, kb.idx(1024), rem(addr, 1024)), 1024);
  auto ty = llvm::cast<MemRefType>(smem.getType());
  return memref::ViewOp::create(b, l, ty, smem, pad, ValueRange{kb.idx(kMaxSharedBytes)});
}

SmallVector<Value, 4> Chunked::el(const Mat &m, Value r, Value c) {
  if (m.rowSwizzled)
    return {r, rowSwizzle(r, c)};
  if (!m.swizzled)
    return {r, c};
  // Slab c / 64 of rows x 64, row r, piece (c mod 64) / 8 at its swizzled
  // place, element c mod 8.
  int64_t rows = llvm::cast<MemRefType>(m.mem.getType()).getDimSize(0) / m.ld;
  Value piece = arith::XOrIOp::create(b, l, rem(div(c, 8), 8), rem(r, 8));
  Value at = kb.iadd(kb.imul(div(c, 64), kb.idx(rows * 64)), kb.imul(r, kb.idx(64)));
  return {kb.iadd(at, kb.iadd(kb.imul(piece, kb.idx(8)), rem(c, 8)))};
}

Value Chunked::rowSwizzle(Value r, Value c) {
  // Bits 3-5 of the column (the piece within its group of eight) xor r mod 8.
  Value x = kb.imul(rem(r, 8), kb.idx(8));
  return arith::XOrIOp::create(b, l, c, x);
}

Value Chunked::begin(int64_t VT, StringRef variant, StringRef schedule, const std::string &detail, int64_t threads) {
  Operation *fn = kb.function();
  fn->setAttr("delta.block_size", b.getI64IntegerAttr(threads));
  // Launch bound: ptxas keeps to the registers that many threads can have.
  llvm::cast<gpu::GPUFuncOp>(fn).setKnownBlockSize(ArrayRef<int32_t>{int32_t(threads), 1, 1});
  fn->setAttr("delta.value_tile", b.getI64IntegerAttr(VT));
  fn->setAttr("delta.variant", b.getStringAttr(variant));
  fn->setAttr("delta.chunk_size", b.getI64IntegerAttr(kChunk));
  fn->setAttr("delta.schedule", b.getStringAttr(schedule));
  fn->setAttr("delta.schedule_detail", b.getStringAttr(detail));
  tid = gpu::ThreadIdOp::create(b, l, gpu::Dimension::x);
  warp = div(tid, 32);
  auto dynTy = MemRefType::get({ShapedType::kDynamic}, b.getI8Type(), MemRefLayoutAttrInterface(),
                               gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup));
  return gpu::DynamicSharedMemoryOp::create(b, l, dynTy);
}

void Chunked::barrier() { gpu::BarrierOp::create(b, l); }

Value Chunked::address(Value mem, Value shift) {
  Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, l, mem);
  return arith::IndexCastOp::create(b, l, b.getI64Type(), kb.iadd(base, shift));
}

Value Chunked::elementAddress(Value mem, Value index) {
  auto ty = llvm::cast<MemRefType>(mem.getType());
  return address(mem, kb.imul(index, kb.idx(ty.getElementTypeBitWidth() / 8)));
}

void Chunked::prefetchL2(Value mem, Value index) {
  Value i64 = elementAddress(mem, index);
  // Inline PTX: the NVPTX backend selects the prefetch intrinsic only for
  // some targets; the instruction itself exists on every one we build for.
  LLVM::InlineAsmOp::create(b, l, Type(), ValueRange{i64}, b.getStringAttr("prefetch.global.L2 [$0];"),
                            b.getStringAttr("l"), b.getUnitAttr(), UnitAttr(), LLVM::TailCallKindAttr(),
                            LLVM::AsmDialectAttr(), ArrayAttr());
}

void Chunked::storeStreaming(Value x, Value mem, Value index) {
  Value i64 = elementAddress(mem, index);
  Value words = vector::BitCastOp::create(b, l, VectorType::get({4}, b.getI32Type()), x);
  SmallVector<Value> ops{i64};
  for (int64_t m = 0; m < 4; ++m)
    ops.push_back(vector::ExtractOp::create(b, l, words, ArrayRef<int64_t>{m}));
  LLVM::InlineAsmOp::create(b, l, Type(), ops, b.getStringAttr("st.global.cs.v4.b32 [$0], {$1, $2, $3, $4};"),
                            b.getStringAttr("l,r,r,r,r,~{memory}"), b.getUnitAttr(), UnitAttr(),
                            LLVM::TailCallKindAttr(), LLVM::AsmDialectAttr(), ArrayAttr());
}

void Chunked::namedBarrier(int32_t id, int64_t threads) {
  NVVM::BarrierOp::create(b, l, Type(), arith::ConstantIntOp::create(b, l, id, 32),
                          arith::ConstantIntOp::create(b, l, threads, 32), NVVM::BarrierReductionAttr(), Value());
}

void Chunked::syncWarp() { NVVM::SyncWarpOp::create(b, l, arith::ConstantIntOp::create(b, l, -1, 32)); }

void Chunked::strided(int64_t n, const std::function<void(Value)> &body) { kb.loop(tid, kb.idx(n), kThreads, body); }

void Chunked::when(Value cond, const std::function<void()> &body) {
  auto op = scf::IfOp::create(b, l, cond, false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(op.thenBlock());
  body();
}

Chunked::Lane Chunked::lane() {
  Lane r;
  r.lane = rem(tid, 32);
  r.g = div(r.lane, 4);
  r.t = rem(r.lane, 4);
  r.t2 = kb.imul(r.t, kb.idx(2));
  r.l8 = rem(r.lane, 8);
  r.hi8 = kb.imul(div(r.lane, 16), kb.idx(8));
  r.q8 = kb.imul(rem(div(r.lane, 8), 2), kb.idx(8));
  r.l16 = rem(r.lane, 16);
  return r;
}

Value Chunked::zeroAcc() {
  auto c2 = VectorType::get({2, 2}, f32);
  return arith::ConstantOp::create(b, l, DenseElementsAttr::get(c2, b.getF32FloatAttr(0)));
}

void Chunked::tileProducts(const Lane &ln, ArrayRef<Mat> As, Mat B, Value ai, Value tj, int64_t Kd,
                           MutableArrayRef<Acc> acc) {
  stripProducts(ln, As, B, ai, {tj}, Kd, acc);
}

Value Chunked::fragmentA(const Lane &ln, const Mat &A, Value ai, Value k0) {
  // Matrices (rows 0-7 | 8-15) x (k 0-7 | 8-15). Column-major A is read
  // from X = A^T (rows k): lanes 0-7 | 8-15 | 16-23 | 24-31 address the four
  // matrices' rows.
  auto a4 = VectorType::get({4, 2}, f16);
  if (A.colMajor)
    return nvgpu::LdMatrixOp::create(b, l, a4, A.mem, el(A, kb.iadd(k0, kb.iadd(ln.l8, ln.hi8)), kb.iadd(ai, ln.q8)),
                                     true, 4);
  return nvgpu::LdMatrixOp::create(b, l, a4, A.mem, el(A, kb.iadd(ai, ln.l16), kb.iadd(k0, ln.hi8)), false, 4);
}

Value Chunked::fragmentB(const Lane &ln, const Mat &B, Value tj, Value k0) {
  auto a4 = VectorType::get({4, 2}, f16);
  if (B.colMajor)
    return nvgpu::LdMatrixOp::create(b, l, a4, B.mem, el(B, kb.iadd(tj, kb.iadd(ln.l8, ln.hi8)), kb.iadd(k0, ln.q8)),
                                     false, 4);
  return nvgpu::LdMatrixOp::create(b, l, a4, B.mem, el(B, kb.iadd(k0, kb.iadd(ln.l8, ln.q8)), kb.iadd(tj, ln.hi8)),
                                   true, 4);
}

void Chunked::stripProducts(const Lane &ln, ArrayRef<Mat> As, Mat B, Value ai, ArrayRef<Value> tjs, int64_t Kd,
                            MutableArrayRef<Acc> acc, ArrayRef<Value> ais, int64_t kSplit) {
  const size_t n = tjs.size();
  assert(acc.size() == As.size() * n && "an accumulator per product and column tile");
  kSplit = std::max<int64_t>(1, std::min(kSplit, Kd / 16));
  // Set 0 is acc itself; the others start from zero.
  SmallVector<SmallVector<Acc>> sets(kSplit - 1, SmallVector<Acc>(acc.size(), Acc{zeroAcc(), zeroAcc()}));
  for (int64_t k0 = 0; k0 < Kd; k0 += 16) {
    Value kk = kb.idx(k0);
    const int64_t set = (k0 / 16) % kSplit;
    MutableArrayRef<Acc> into = set ? MutableArrayRef<Acc>(sets[set - 1]) : acc;
    // B (16 x 16 at k0, columns tj): (k 0-7 | 8-15) for n-tile tj, then tj + 8.
    SmallVector<Value> bqs;
    for (Value tj : tjs)
      bqs.push_back(fragmentB(ln, B, tj, kk));
    for (size_t p = 0; p < As.size(); ++p) {
      if (!ais.empty())
        ai = ais[p];
      Value a = fragmentA(ln, As[p], ai, kk);
      for (size_t m = 0; m < n; ++m)
        for (int h = 0; h < 2; ++h) {
          Value bh = vector::ShuffleOp::create(b, l, bqs[m], bqs[m], ArrayRef<int64_t>{2 * h, 2 * h + 1});
          into[p * n + m][h] = nvgpu::MmaSyncOp::create(b, l, a, bh, into[p * n + m][h], ArrayRef<int64_t>{16, 8, 16});
        }
    }
  }
  for (const SmallVector<Acc> &more : sets)
    for (size_t i = 0; i < acc.size(); ++i)
      for (int h = 0; h < 2; ++h)
        acc[i][h] = arith::AddFOp::create(b, l, acc[i][h], more[i][h]);
}

SmallVector<Chunked::Acc> Chunked::oAndStatePass(const Lane &ln, Mat QK, Value oi, ArrayRef<Acc> o, Mat K,
                                                 ArrayRef<OwnTile> own, ArrayRef<Acc> state, int64_t strip, Mat Delta) {
  assert(state.size() == own.size() && own.size() % strip == 0 && (o.empty() || int64_t(o.size()) == strip) &&
         "an accumulator per tile, whole rows of tiles");
  SmallVector<Acc> acc(o.begin(), o.end());
  SmallVector<Mat> As;
  SmallVector<Value> rows, tjs;
  if (!o.empty()) {
    As.push_back(QK);
    rows.push_back(oi);
  }
  for (int64_t s = 0; s < strip; ++s)
    tjs.push_back(own[s].tj);
  for (size_t m = 0; m < own.size(); ++m) {
    if (m % strip == 0) {
      As.push_back(T(K));
      rows.push_back(own[m].ti);
    }
    acc.push_back(state[m]);
  }
  stripProducts(ln, As, Delta, Value(), tjs, kChunk, acc, rows);
  return acc;
}

void Chunked::forEachElement(const Lane &ln, const Acc &acc, Value oi, Value tj,
                             const std::function<void(Value, Value, Value)> &fn) {
  for (int h = 0; h < 2; ++h) {
    Value col = kb.iadd(tj, kb.iadd(ln.t2, kb.idx(8 * h)));
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 2; ++c)
        fn(kb.iadd(oi, kb.iadd(ln.g, kb.idx(8 * r))), kb.iadd(col, kb.idx(c)),
           vector::ExtractOp::create(b, l, acc[h], ArrayRef<int64_t>{r, c}));
  }
}

SmallVector<Chunked::Acc> Chunked::matmuls(ArrayRef<Product> ps, int64_t aRow, Mat B, int64_t oRow, int64_t M,
                                           int64_t N, int64_t Kd, int64_t w0, int64_t nw,
                                           ArrayRef<std::pair<int64_t, int64_t>> order, int64_t strip, int64_t kSplit) {
  auto c2 = VectorType::get({2, 2}, f32);
  Lane ln = lane();
  assert(N % (16 * strip) == 0 && "whole strips");
  int64_t tilesN = N / (16 * strip), tiles = order.empty() ? (M / 16) * tilesN : int64_t(order.size());
  Value first = w0 ? arith::SubIOp::create(b, l, warp, kb.idx(w0)).getResult() : warp;
  int64_t keeping = llvm::count_if(ps, [](const Product &p) { return p.keep; });
  bool registers = keeping || llvm::any_of(ps, [](const Product &p) { return !p.init.empty(); });
  assert((!registers || (tiles <= nw && order.empty())) && "kept accumulators: one tile per warp, same tiling");
  (void)registers;
  // The tile of warp w0 + t: its products, epilogues, and the accumulators
  // it keeps (flattened).
  auto body = [&](Value t) {
    if (pinTiles)
      t = pin(t);
    SmallVector<Value> kept;
    Value ti = kb.imul(div(t, tilesN), kb.idx(16));
    Value tj = kb.imul(rem(t, tilesN), kb.idx(16 * strip));
    if (!order.empty()) { // the listed tile (the strip's first): a chain of selects on t
      ti = kb.idx(16 * order[0].first), tj = kb.idx(16 * order[0].second);
      for (size_t k = 1; k < order.size(); ++k) {
        Value is = eq(t, kb.idx(k));
        ti = select(is, kb.idx(16 * order[k].first), ti);
        tj = select(is, kb.idx(16 * order[k].second), tj);
      }
    }
    Value oi = kb.iadd(ti, kb.idx(oRow)), ai = kb.iadd(ti, kb.idx(aRow));
    // The strip's column tiles; acc[p * strip + m]: product p's at tjs[m].
    SmallVector<Value> tjs;
    for (int64_t m = 0; m < strip; ++m)
      tjs.push_back(m ? kb.iadd(tj, kb.idx(16 * m)) : tj);
    SmallVector<Acc> acc(ps.size() * strip);
    SmallVector<Mat> As;
    for (size_t p = 0; p < ps.size(); ++p) {
      As.push_back(ps[p].A);
      if (!ps[p].init.empty()) {
        assert(int64_t(ps[p].init.size()) == strip && "an initial accumulator per column tile");
        for (int64_t m = 0; m < strip; ++m)
          acc[p * strip + m] = ps[p].init[m];
        continue;
      }
      for (int64_t m = 0; m < strip; ++m)
        for (int h = 0; h < 2; ++h) {
          Acc &a = acc[p * strip + m];
          if (!ps[p].accumulate) {
            a[h] = zeroAcc();
            continue;
          }
          Value col = kb.iadd(tjs[m], kb.iadd(ln.t2, kb.idx(8 * h)));
          SmallVector<Value> e;
          for (int r = 0; r < 2; ++r)
            for (int c = 0; c < 2; ++c) {
              Value x = kb.load(ps[p].out.mem,
                                el(ps[p].out, kb.iadd(oi, kb.iadd(ln.g, kb.idx(8 * r))), kb.iadd(col, kb.idx(c))));
              e.push_back(ps[p].accScale ? kb.mul(ps[p].accScale, x) : x);
            }
          a[h] = vector::FromElementsOp::create(b, l, c2, e);
        }
    }
    stripProducts(ln, As, B, ai, tjs, Kd, acc, {}, kSplit);
    for (size_t p = 0; p < ps.size(); ++p)
      for (int64_t m = 0; m < strip; ++m) {
        Acc &a = acc[p * strip + m];
        if (ps[p].keep) {
          for (int h = 0; h < 2; ++h) {
            if (ps[p].rowScale) {
              SmallVector<Value> e;
              for (int r = 0; r < 2; ++r) {
                Value s = ps[p].rowScale(kb.iadd(oi, kb.iadd(ln.g, kb.idx(8 * r))));
                for (int c = 0; c < 2; ++c)
                  e.push_back(kb.mul(s, vector::ExtractOp::create(b, l, a[h], ArrayRef<int64_t>{r, c})));
              }
              a[h] = vector::FromElementsOp::create(b, l, c2, e);
            }
            kept.push_back(a[h]);
          }
          continue;
        }
        if (ps[p].tileEpilogue) {
          ps[p].tileEpilogue(oi, tjs[m], a);
          continue;
        }
        if (const PairEpilogue &pe = ps[p].pairEpilogue) {
          for (int h = 0; h < 2; ++h)
            for (int r = 0; r < 2; ++r) {
              auto x = [&](int c) { return vector::ExtractOp::create(b, l, a[h], ArrayRef<int64_t>{r, c}); };
              pe(kb.iadd(oi, kb.iadd(ln.g, kb.idx(8 * r))), kb.iadd(tjs[m], kb.iadd(ln.t2, kb.idx(8 * h))), x(0), x(1));
            }
          continue;
        }
        forEachElement(ln, a, oi, tjs[m], [&](Value i, Value j, Value x) {
          if (ps[p].epilogue)
            ps[p].epilogue(i, j, x);
          else
            kb.store(x, ps[p].out.mem, el(ps[p].out, i, j));
        });
      }
    return kept;
  };
  // Straight-line code when every warp takes at most one tile (the compiler
  // may then interleave it with what comes before and after), else a loop.
  SmallVector<Value> flat;
  if (tiles == nw) {
    flat = body(first);
  } else if (tiles < nw && keeping) {
    SmallVector<Type> types(2 * keeping * strip, c2);
    auto op = scf::IfOp::create(b, l, types, lt(first, kb.idx(tiles)), true);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(op.thenBlock());
    scf::YieldOp::create(b, l, body(first));
    b.setInsertionPointToStart(op.elseBlock());
    scf::YieldOp::create(b, l, SmallVector<Value>(2 * keeping * strip, zeroAcc()));
    flat.assign(op.getResults().begin(), op.getResults().end());
  } else if (tiles < nw) {
    when(lt(first, kb.idx(tiles)), [&] { body(first); });
  } else {
    kb.loop(first, kb.idx(tiles), nw, [&](Value t) { body(t); });
  }
  SmallVector<Acc> kept;
  for (size_t k = 0; k < flat.size(); k += 2)
    kept.push_back({flat[k], flat[k + 1]});
  return kept;
}

/// The wgmma shared-memory descriptor of the 16-deep slice at column k0 of
/// the swizzled matrix m (K-major: its stored rows are the M or N dimension,
/// its columns the contracted one), from byte `rowShift` on (whole groups of
/// eight rows): 128-byte swizzle, eight-row groups 1024 bytes apart.
static Value wgmmaDescriptor(Chunked &ck, const Mat &m, Value rowShift, int64_t k0) {
  KernelBuilder &kb = ck.kb;
  OpBuilder &b = ck.b;
  Location l = ck.l;
  assert(m.swizzled && "a swizzled operand");
  int64_t rows = llvm::cast<MemRefType>(m.mem.getType()).getDimSize(0) / m.ld;
  Value addr = ck.address(m.mem, kb.iadd(rowShift, kb.idx(k0 / 64 * rows * 128 + k0 % 64 * 2)));
  auto i64 = [&](int64_t v) { return arith::ConstantIntOp::create(b, l, v, 64).getResult(); };
  Value field = arith::ShRUIOp::create(b, l, arith::AndIOp::create(b, l, addr, i64(0x3ffff)), i64(4));
  const int64_t lead = 1, stride = 1024 >> 4, swizzle128 = 1;
  return arith::OrIOp::create(b, l, field, i64((lead << 16) | (stride << 32) | (swizzle128 << 62)));
}

void Chunked::storeTileF16(const Lane &ln, const Mat &X, const Acc &acc, Value ti, Value tj) {
  assert(!X.colMajor && !X.swizzled && "row-major pairs");
  auto h2 = VectorType::get({2}, f16);
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t r = 0; r < 2; ++r) {
      Value pair = vector::ExtractOp::create(b, l, acc[h], ArrayRef<int64_t>{r});
      vector::StoreOp::create(
          b, l, arith::TruncFOp::create(b, l, h2, pair), X.mem,
          el(X, kb.iadd(ti, kb.iadd(ln.g, kb.idx(8 * r))), kb.iadd(tj, kb.iadd(ln.t2, kb.idx(8 * h)))), false,
          llvm::MaybeAlign(4));
    }
}

void Chunked::storeTileTransposed(const Mat &X, const Acc &acc, Value ti, Value tj, Type elem, Value scale) {
  assert(X.swizzled && X.colMajor && "a swizzled transposed operand");
  MLIRContext *ctx = b.getContext();
  Lane ln = lane();
  // Matrix m = 2h + r: rows ti + 8r.., columns tj + 8h.. of the tile; this
  // lane's pair of it (row g, columns 2t, 2t + 1) as one b16 x 2 register.
  SmallVector<Value> regs;
  Type to = elem ? elem : f16;
  auto h2 = VectorType::get({2}, to), i1 = VectorType::get({1}, b.getI32Type());
  auto cast = [&](Value x) -> Value { return arith::TruncFOp::create(b, l, to, scale ? kb.mul(x, scale) : x); };
  for (int64_t m = 0; m < 4; ++m) {
    int64_t r = m % 2, h = m / 2;
    Value pair = vector::FromElementsOp::create(
        b, l, h2,
        ValueRange{cast(vector::ExtractOp::create(b, l, acc[h], ArrayRef<int64_t>{r, 0})),
                   cast(vector::ExtractOp::create(b, l, acc[h], ArrayRef<int64_t>{r, 1}))});
    regs.push_back(vector::ExtractOp::create(b, l, vector::BitCastOp::create(b, l, i1, pair), ArrayRef<int64_t>{0}));
  }
  // Lane 8m + q addresses row q of matrix m in X: X[tj + 8h + q][ti + 8r ..].
  Value m = div(ln.lane, 8), q = rem(ln.lane, 8);
  Value row = kb.iadd(tj, kb.iadd(kb.imul(div(m, 2), kb.idx(8)), q));
  Value col = kb.iadd(ti, kb.imul(rem(m, 2), kb.idx(8)));
  Value ptr = LLVM::IntToPtrOp::create(b, l, LLVM::LLVMPointerType::get(ctx, 3),
                                       address(X.mem, kb.imul(el(X, row, col)[0], kb.idx(2))));
  NVVM::StMatrixOp::create(b, l, ptr, regs, NVVM::MMALayout::col, NVVM::LdStMatrixShapeAttr::get(ctx, 8, 8),
                           NVVM::LdStMatrixEltType::B16);
}

void Chunked::fenceAsyncShared() {
  NVVM::FenceProxyOp::create(b, l, NVVM::ProxyKind::async_shared,
                             NVVM::SharedSpaceAttr::get(b.getContext(), NVVM::SharedSpace::shared_cta));
}

void Chunked::wgmmaProducts(ArrayRef<Product> ps, Mat B, int64_t N, int64_t Kd,
                            const std::function<void()> &beside) {
  const int64_t P = ps.size(), n = N / (4 / P);
  assert((P == 1 || P == 2 || P == 4) && n % 8 == 0 && B.colMajor && B.swizzled && "wgmma operands");
  MLIRContext *ctx = b.getContext();
  Value wg = div(warp, 4), which = rem(wg, P), block = div(wg, P);
  // This warpgroup's A (a select between the products' matrices) and B rows.
  Value aShift = kb.idx(0);
  Value aBase = memref::ExtractAlignedPointerAsIndexOp::create(b, l, ps[0].A.mem);
  for (int64_t p = 1; p < P; ++p) {
    Value other = memref::ExtractAlignedPointerAsIndexOp::create(b, l, ps[p].A.mem);
    aShift = select(eq(which, kb.idx(p)), arith::SubIOp::create(b, l, other, aBase), aShift);
  }
  Value bShift = kb.imul(block, kb.idx(n * 128)); // n rows of 128 bytes in every slab
  auto accTy = LLVM::LLVMStructType::getLiteral(ctx, SmallVector<Type>(n / 2, f32));
  Value acc = LLVM::ZeroOp::create(b, l, accTy);
  NVVM::WgmmaFenceAlignedOp::create(b, l);
  for (int64_t k0 = 0; k0 < Kd; k0 += 16) {
    Value dA = wgmmaDescriptor(*this, ps[0].A, aShift, k0);
    Value dB = wgmmaDescriptor(*this, B, bShift, k0);
    acc = NVVM::WgmmaMmaAsyncOp::create(b, l, accTy, acc, dA, dB, NVVM::MMAShapeAttr::get(ctx, 64, n, 16),
                                        NVVM::WGMMATypes::f16, NVVM::WGMMATypes::f16, NVVM::WGMMATypes::f32,
                                        k0 ? NVVM::WGMMAScaleOut::one : NVVM::WGMMAScaleOut::zero,
                                        NVVM::WGMMAScaleIn::one, NVVM::WGMMAScaleIn::one, NVVM::MMALayout::row,
                                        NVVM::MMALayout::col, NVVM::MMAIntOverflowAttr());
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b, l);
  beside();
  NVVM::WgmmaWaitGroupSyncOp::create(b, l, 0);
  // Accumulator layout: warp w of the group holds rows 16w + g (+ 8), and
  // per 8-column block j columns 8j + 2t (+ 1), at 4j + 2 * (row half) + c.
  Lane ln = lane();
  Value row0 = kb.imul(rem(warp, 4), kb.idx(16)), col0 = kb.imul(block, kb.idx(n));
  for (int64_t p = 0; p < P; ++p)
    when(eq(which, kb.idx(p)), [&] {
      for (int64_t j = 0; j < n / 8; ++j)
        for (int64_t r = 0; r < 2; ++r)
          for (int64_t c = 0; c < 2; ++c) {
            Value x = LLVM::ExtractValueOp::create(b, l, acc, ArrayRef<int64_t>{4 * j + 2 * r + c});
            Value i = kb.iadd(row0, kb.iadd(ln.g, kb.idx(8 * r)));
            Value col = kb.iadd(col0, kb.iadd(ln.t2, kb.idx(8 * j + c)));
            if (ps[p].epilogue)
              ps[p].epilogue(i, col, x);
            else
              kb.store(x, ps[p].out.mem, el(ps[p].out, i, col));
          }
    });
}

Value Chunked::copyValues(Mat Vc, Value i, Value j0, Value row, Value on, Value v0, int64_t per, int64_t unit) {
  const int64_t ioBytes = kb.ioType().getIntOrFloatBitWidth() / 8;
  Value count = select(on, kb.idx(unit), kb.idx(0));
  SmallVector<Value> tokens;
  for (int64_t m = 0; m < per; m += unit) {
    Value col = arith::MinUIOp::create(b, l, kb.iadd(v0, kb.iadd(j0, kb.idx(m))), kb.idx(V - unit));
    tokens.push_back(nvgpu::DeviceAsyncCopyOp::create(
        b, l, nvgpu::DeviceAsyncTokenType::get(b.getContext()), Vc.mem, ValueRange{i, kb.iadd(j0, kb.idx(m))},
        kb.v(), ValueRange{kb.iadd(kb.imul(row, kb.idx(V)), col)}, b.getIndexAttr(unit), count,
        unit * ioBytes == 16 ? b.getUnitAttr() : UnitAttr()));
  }
  return nvgpu::DeviceAsyncCreateGroupOp::create(b, l, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);
}

std::pair<Value, Value> Chunked::splitTf32(Value x) {
  auto i32 = b.getI32Type();
  Value bits = arith::BitcastOp::create(b, l, i32, x);
  Value hi = arith::BitcastOp::create(
      b, l, f32, arith::AndIOp::create(b, l, bits, arith::ConstantIntOp::create(b, l, int32_t(0xffffe000), 32)));
  return {hi, arith::SubFOp::create(b, l, x, hi)};
}

void Chunked::solveStrips(Mat Lh, Mat Tinv, Mat RHS, Mat Dh, int64_t VT, const Mat *DWh, Value LG, int64_t warps) {
  auto b2 = VectorType::get({2, 2}, f16);
  auto c2 = VectorType::get({2, 2}, f32), ta = VectorType::get({4, 1}, f32), tb = VectorType::get({2, 1}, f32);
  // Strip s (columns 8s ..) by warp s mod 16: one strip per warp up to 128
  // columns; beyond, a warp's strips side by side (two, at 256 columns: their
  // chains of products overlap and share the fragments of L and the
  // inverses), or a loop over them.
  auto strips = [&](ArrayRef<Value> ss) {
    Lane ln = lane();
    Value g = ln.g, t = ln.t, t2 = ln.t2, l16 = ln.l16;
    const size_t ns = ss.size();
    SmallVector<Value> j0s;
    for (Value s : ss)
      j0s.push_back(kb.imul(s, kb.idx(8)));
    Value lastLG = DWh ? kb.load(LG, kb.idx(kChunk - 1)) : Value();
    auto rc = [&](int64_t r, Value dr, Value c) -> SmallVector<Value, 2> { return {kb.iadd(kb.idx(r), dr), c}; };
    for (int64_t r = 0; r < kChunk / 16; ++r) {
      const int64_t r0 = 16 * r;
      // acc (rows r0 + g, r0 + g + 8; columns j0 + 2t, + 1) = RHS_r.
      SmallVector<Value> accs;
      for (Value j0 : j0s) {
        SmallVector<Value> e;
        for (int64_t h = 0; h < 2; ++h)
          for (int64_t c = 0; c < 2; ++c)
            e.push_back(kb.load(RHS.mem, rc(r0 + 8 * h, g, kb.iadd(j0, kb.iadd(t2, kb.idx(c))))));
        accs.push_back(vector::FromElementsOp::create(b, l, c2, e));
      }
      for (int64_t k = 0; k < r; ++k) {
        Value a = fragmentA(ln, Lh, kb.idx(r0), kb.idx(16 * k));
        for (size_t x = 0; x < ns; ++x) {
          Value bb = nvgpu::LdMatrixOp::create(b, l, b2, Dh.mem, rc(16 * k, l16, j0s[x]), true, 2);
          accs[x] = nvgpu::MmaSyncOp::create(b, l, a, bb, accs[x], ArrayRef<int64_t>{16, 8, 16});
        }
      }
      // Through shared memory into the B layout (row t / t + 4, column g).
      if (r > 0) {
        for (size_t x = 0; x < ns; ++x)
          for (int64_t h = 0; h < 2; ++h)
            for (int64_t c = 0; c < 2; ++c)
              kb.store(vector::ExtractOp::create(b, l, accs[x], ArrayRef<int64_t>{h, c}), RHS.mem,
                       rc(r0 + 8 * h, g, kb.iadd(j0s[x], kb.iadd(t2, kb.idx(c)))));
        syncWarp();
      }
      SmallVector<Value> ds(ns, zeroAcc());
      for (int64_t k = 0; k < 2; ++k) {
        Value col = kb.iadd(kb.idx(8 * k), t);
        SmallVector<Value> ah, al;
        for (auto [dr, dc] : {std::pair{0, 0}, {8, 0}, {0, 4}, {8, 4}}) {
          auto [h, lo] = splitTf32(kb.load(Tinv.mem, rc(r0 + dr, g, kb.iadd(col, kb.idx(dc)))));
          ah.push_back(h), al.push_back(lo);
        }
        SmallVector<SmallVector<Value>> bh(ns), bl(ns);
        for (size_t x = 0; x < ns; ++x)
          for (int64_t dk : {0, 4}) {
            auto [h, lo] = splitTf32(kb.load(RHS.mem, rc(r0 + 8 * k + dk, t, kb.iadd(j0s[x], g))));
            bh[x].push_back(h), bl[x].push_back(lo);
          }
        Value Ah = vector::FromElementsOp::create(b, l, ta, ah), Al = vector::FromElementsOp::create(b, l, ta, al);
        for (size_t x = 0; x < ns; ++x) {
          Value Bh = vector::FromElementsOp::create(b, l, tb, bh[x]),
                Bl = vector::FromElementsOp::create(b, l, tb, bl[x]);
          ds[x] = nvgpu::MmaSyncOp::create(b, l, Al, Bh, ds[x], ArrayRef<int64_t>{16, 8, 8}, true);
          ds[x] = nvgpu::MmaSyncOp::create(b, l, Ah, Bl, ds[x], ArrayRef<int64_t>{16, 8, 8}, true);
          ds[x] = nvgpu::MmaSyncOp::create(b, l, Ah, Bh, ds[x], ArrayRef<int64_t>{16, 8, 8}, true);
        }
      }
      for (int64_t h = 0; h < 2; ++h) {
        Value w = DWh ? kb.exp(kb.sub(lastLG, kb.load(LG, kb.iadd(kb.idx(r0 + 8 * h), g)))) : Value();
        for (size_t x = 0; x < ns; ++x)
          for (int64_t c = 0; c < 2; ++c) {
            Value v = vector::ExtractOp::create(b, l, ds[x], ArrayRef<int64_t>{h, c});
            SmallVector<Value, 2> ij = rc(r0 + 8 * h, g, kb.iadd(j0s[x], kb.iadd(t2, kb.idx(c))));
            kb.store(toF16(v), Dh.mem, ij);
            if (DWh)
              kb.store(toF16(kb.mul(w, v)), DWh->mem, ij);
          }
      }
      syncWarp();
    }
  };
  const int64_t n = VT / 8;
  assert((warps == kWarps || n <= 2 * warps) && "fewer warps than the block's: one or two strips each");
  if (n <= warps)
    when(lt(warp, kb.idx(n)), [&] { strips({warp}); });
  else if (n == 2 * warps) {
    auto both = [&] { strips({warp, kb.iadd(warp, kb.idx(warps))}); };
    if (warps < kWarps)
      when(lt(warp, kb.idx(warps)), both);
    else
      both();
  } else
    kb.loop(warp, kb.idx(n), kWarps, [&](Value s) { strips({s}); });
}

void Chunked::unrolled(int64_t n, const std::function<SmallVector<Value>(Value)> &loads,
                       const std::function<void(Value, ArrayRef<Value>)> &stores) {
  if (int64_t rest = n % kThreads) {
    Value e = kb.iadd(tid, kb.idx(n - rest));
    when(lt(tid, kb.idx(rest)), [&] {
      SmallVector<Value> v = loads(e);
      stores(e, v);
    });
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

std::pair<Value, Value> Chunked::keyNorm(delta::RecurrenceOp rec, ArrayRef<Value> ks) {
  Value lam = kb.f32(0);
  for (Value kd : ks)
    lam = kb.add(lam, kb.mul(kd, kd));
  for (int32_t o : {4, 2, 1})
    lam = kb.add(lam, shuffleXor(lam, o));
  Value rs = kb.f32(1);
  if (rec.getKeyNorm() == delta::KeyNorm::l2) {
    rs = arith::DivFOp::create(b, l, kb.f32(1), math::SqrtOp::create(b, l, kb.add(lam, kb.f32(1e-6))));
    lam = kb.mul(lam, kb.mul(rs, rs));
  }
  return {lam, rs};
}

Chunked::TokenMath Chunked::tokenCoefficients(Value lam, Value rs, Value live, Value row, ArrayRef<Value> inputs) {
  Value fzero = kb.f32(0);
  TokenCoefficients co = kb.coefficients(row, lam, inputs);
  TokenMath m;
  m.rs = rs;
  m.a = select(live, co.a, fzero);
  m.b = select(live, co.b, fzero);
  m.lg = !kb.ungated() ? select(live, math::LogOp::create(b, l, co.g), fzero) : fzero;
  return m;
}

Value Chunked::pin(Value x) {
  // An index (below 2^31 here: tile and warp numbers) as a 32-bit register.
  const bool index = x.getType().isIndex();
  assert((x.getType().isF32() || index) && "an f32 register or an index");
  Value in = index ? arith::IndexCastUIOp::create(b, l, b.getI32Type(), x).getResult() : x;
  Value out = LLVM::InlineAsmOp::create(b, l, in.getType(), ValueRange{in}, b.getStringAttr("mov.b32 $0, $1;"),
                                        b.getStringAttr(index ? "=r,r" : "=f,f"), b.getUnitAttr(), UnitAttr(),
                                        LLVM::TailCallKindAttr(), LLVM::AsmDialectAttr(), ArrayAttr())
                  .getResult(0);
  return index ? arith::IndexCastUIOp::create(b, l, b.getIndexType(), out).getResult() : out;
}

void Chunked::finishPrologue(delta::RecurrenceOp rec, ArrayRef<Value> ks, ArrayRef<Value> qs, Value i, Value d0,
                             Value part, Value live, Value row, Mat Kh, Mat Qh, Value A, Value Bc, Value LG,
                             ArrayRef<Value> inputs, const TokenMath *early) {
  Value fzero = kb.f32(0);
  Value lam, rs;
  if (early)
    rs = early->rs;
  else
    std::tie(lam, rs) = keyNorm(rec, ks);
  Value keep = select(live, rs, fzero), qkeep = select(live, kb.f32(1), fzero);
  const int64_t pieces = ks.size() / 8;
  if (Kh.swizzled && Qh.swizzled && ks.size() % 8 == 0 && 8 % pieces == 0) {
    // One 16-byte piece per store (d0 is a multiple of 8), the pieces taken
    // in an order rotated by the part: the eight lanes of a token then store
    // to eight different swizzled places, conflict-free.
    auto v8 = VectorType::get({8}, f16);
    Value rot = div(part, 8 / pieces);
    for (auto [xs, s, m] : {std::tuple{ks, keep, Kh}, std::tuple{qs, qkeep, Qh}}) {
      SmallVector<Value> piece;
      for (int64_t e = 0; e < pieces; ++e) {
        SmallVector<Value> h;
        for (int64_t x = 0; x < 8; ++x)
          h.push_back(toF16(kb.mul(xs[8 * e + x], s)));
        piece.push_back(vector::FromElementsOp::create(b, l, v8, h));
      }
      for (int64_t step = 0; step < pieces; ++step) {
        Value e = rem(kb.iadd(rot, kb.idx(step)), pieces);
        Value data = piece[0];
        for (int64_t k = 1; k < pieces; ++k)
          data = select(this->eq(e, kb.idx(k)), piece[k], data);
        vector::StoreOp::create(b, l, data, m.mem, el(m, i, kb.iadd(d0, kb.imul(e, kb.idx(8)))), false,
                                llvm::MaybeAlign(16));
      }
    }
  } else {
    for (size_t d = 0; d < ks.size(); ++d) {
      Value col = kb.iadd(d0, kb.idx(d));
      kb.store(toF16(kb.mul(ks[d], keep)), Kh.mem, el(Kh, i, col));
      kb.store(toF16(kb.mul(qs[d], qkeep)), Qh.mem, el(Qh, i, col));
    }
  }
  // Computed by every lane without a branch (the row is valid even past the
  // end), so that the compiler can interleave it with other work; stored by
  // the first of the eight.
  TokenMath m = early ? *early : tokenCoefficients(lam, rs, live, row, inputs);
  when(eq(part, kb.idx(0)), [&] {
    kb.store(m.a, A, i);
    kb.store(m.b, Bc, i);
    kb.store(m.lg, LG, i);
  });
}

void Chunked::scanLogG(Value LG) {
  static_assert(kChunk == 64, "two tokens per lane");
  Value fzero = kb.f32(0);
  Value ln = rem(tid, 32);
  Value i0 = kb.imul(ln, kb.idx(2)), i1 = kb.iadd(i0, kb.idx(1));
  Value x0 = kb.load(LG, i0), x1 = kb.add(x0, kb.load(LG, i1));
  Value lane32 = arith::IndexCastOp::create(b, l, b.getI32Type(), ln);
  Value sum = x1;
  for (int32_t o : {1, 2, 4, 8, 16}) {
    Value up = gpu::ShuffleOp::create(b, l, sum, o, 32, gpu::ShuffleMode::UP).getShuffleResult();
    Value has = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, lane32, arith::ConstantIntOp::create(b, l, o, 32));
    sum = kb.add(sum, select(has, up, fzero));
  }
  Value before = kb.sub(sum, x1);
  kb.store(kb.add(before, x0), LG, i0);
  kb.store(sum, LG, i1);
}

SmallVector<Chunked::Product> Chunked::kqProducts(Mat Kh, Mat Qh, Mat KKd, Mat Lh, Mat QKh, Value A, Value LG,
                                                  bool gated) {
  auto ratio = [=](Value i, Value j) {
    return gated ? kb.exp(kb.sub(kb.load(LG, i), kb.load(LG, j))) : kb.f32(1);
  };
  // Pairs of neighbouring columns (j, j + 1; j even): a coefficient load and
  // one store per pair.
  assert(!QKh.swizzled && !QKh.colMajor && !Lh.swizzled && !Lh.colMajor && "row-major pairs");
  auto store2 = [=](Value x0, Value x1, Value mem, Value i, Value j) { // as f16 at (i, j), (i, j + 1)
    Value v = vector::FromElementsOp::create(b, l, VectorType::get({2}, f32), ValueRange{x0, x1});
    v = arith::TruncFOp::create(b, l, VectorType::get({2}, f16), v);
    vector::StoreOp::create(b, l, v, mem, ValueRange{i, j}, false, llvm::MaybeAlign(4));
  };
  Product kk{Kh, KKd};
  kk.pairEpilogue = [=](Value i, Value j, Value x0, Value x1) {
    Value a = kb.load(A, i), j1 = kb.iadd(j, kb.idx(1));
    Value l0 = select(lt(j, i), kb.mul(a, kb.mul(ratio(i, j), x0)), kb.f32(0));
    Value l1 = select(lt(j1, i), kb.mul(a, kb.mul(ratio(i, j1), x1)), kb.f32(0));
    when(eq(div(i, 16), div(j, 16)), [&] { // the diagonal block, transposed
      Value r = kb.iadd(kb.imul(div(i, 16), kb.idx(16)), rem(j, 16)), c = rem(i, 16);
      kb.store(l0, KKd.mem, {r, c});
      kb.store(l1, KKd.mem, {kb.iadd(r, kb.idx(1)), c});
    });
    store2(arith::NegFOp::create(b, l, l0), arith::NegFOp::create(b, l, l1), Lh.mem, i, j);
  };
  Product qk{Qh, QKh};
  qk.pairEpilogue = [=](Value i, Value j, Value x0, Value x1) {
    Value j1 = kb.iadd(j, kb.idx(1));
    Value q0 = select(le(j, i), kb.mul(ratio(i, j), x0), kb.f32(0));
    Value q1 = select(le(j1, i), kb.mul(ratio(i, j1), x1), kb.f32(0));
    store2(q0, q1, QKh.mem, i, j);
  };
  return {kk, qk};
}

void Chunked::clearUpperTiles(Mat M) {
  static_assert(kChunk * kChunk / 8 == kThreads, "a piece per thread");
  assert(!M.swizzled && !M.colMajor && "padded rows");
  Value i = div(tid, kChunk / 8), p = rem(tid, kChunk / 8); // columns 8p .. 8p + 7
  when(lt(div(i, 16), div(p, 2)), [&] {
    auto v8 = VectorType::get({8}, f16);
    Value z = arith::ConstantOp::create(b, l, DenseElementsAttr::get(v8, b.getZeroAttr(f16)));
    vector::StoreOp::create(b, l, z, M.mem, ValueRange{i, kb.imul(p, kb.idx(8))}, false, llvm::MaybeAlign(16));
  });
}

void Chunked::inverse(Value r0, Mat KKd, Mat Tinv) {
  // Lane (h, j) holds rows 8h .. 8h+7 of column j and substitutes forward,
  // row k's final value broadcast by a shuffle at step k (L is strictly
  // lower, so rows at or above k are left unchanged). The block is stored
  // transposed: column k of the lane's eight rows is two 16-byte vectors.
  Value fzero = kb.f32(0);
  Value ln = rem(tid, 32);
  Value j = rem(ln, 16);
  Value h8 = kb.imul(div(ln, 16), kb.idx(8));
  Value j32 = arith::IndexCastOp::create(b, l, b.getI32Type(), j);
  SmallVector<Value> x;
  for (int64_t m = 0; m < 8; ++m)
    x.push_back(select(eq(kb.iadd(h8, kb.idx(m)), j), kb.f32(1), fzero));
  for (int64_t k = 0; k < 15; ++k) {
    // Row k lives in lane (k / 8) * 16 + j, slot k % 8.
    Value src = arith::AddIOp::create(b, l, j32, arith::ConstantIntOp::create(b, l, (k / 8) * 16, 32));
    Value xk = gpu::ShuffleOp::create(b, l, x[k % 8], src, arith::ConstantIntOp::create(b, l, 32, 32),
                                      gpu::ShuffleMode::IDX)
                   .getShuffleResult();
    auto v4 = VectorType::get({4}, f32);
    Value col[2];
    for (int64_t q = 0; q < 2; ++q)
      col[q] = vector::LoadOp::create(b, l, v4, KKd.mem, ValueRange{kb.iadd(r0, kb.idx(k)), kb.iadd(h8, kb.idx(4 * q))},
                                      false, llvm::MaybeAlign(16));
    for (int64_t m = 0; m < 8; ++m) {
      Value lik = vector::ExtractOp::create(b, l, col[m / 4], ArrayRef<int64_t>{m % 4});
      x[m] = kb.sub(x[m], kb.mul(lik, xk));
    }
  }
  // In place (Tinv the same matrix as KKd): every lane's loads of the
  // block before any lane's stores into it.
  if (Tinv.mem == KKd.mem)
    syncWarp();
  for (int64_t m = 0; m < 8; ++m)
    kb.store(x[m], Tinv.mem, {kb.iadd(r0, kb.iadd(h8, kb.idx(m))), j});
}

SmallVector<Chunked::Product> Chunked::ksProducts(Mat Kh, Mat Qh, Mat RHS, Mat QS, Value A, Value Bc, Value LG,
                                                  Mat Vc, bool gated, bool keepQS) {
  auto gain = [=](Value i) { return gated ? kb.exp(kb.load(LG, i)) : kb.f32(1); };
  Product ks{Kh, RHS, false, [=](Value i, Value j, Value x) {
               Value rhs = kb.sub(kb.mul(kb.load(Bc, i), kb.loadIO(Vc.mem, {i, j})),
                                  kb.mul(kb.mul(kb.load(A, i), gain(i)), x));
               kb.store(rhs, RHS.mem, {i, j});
             }};
  Product qs{Qh, QS};
  if (keepQS) {
    qs.keep = true;
    if (gated)
      qs.rowScale = gain;
  } else if (gated) {
    qs.epilogue = [=](Value i, Value j, Value x) { kb.store(kb.mul(gain(i), x), QS.mem, {i, j}); };
  }
  return {ks, qs};
}

void Chunked::loadStateTile(Mat S, Mat Sh, Value v0, int64_t VT) {
  Value zero = kb.idx(0), Vn = kb.idx(V), fzero = kb.f32(0);
  Value use = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, kb.useH0(), zero);
  strided(K * VT, [&](Value e) {
    Value d = arith::DivUIOp::create(b, l, e, kb.idx(VT)), j = arith::RemUIOp::create(b, l, e, kb.idx(VT));
    Value col = kb.iadd(v0, j);
    Value inV = lt(col, Vn);
    auto ld = scf::IfOp::create(b, l, TypeRange{f32}, arith::AndIOp::create(b, l, use, inV), true);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(ld.thenBlock());
      scf::YieldOp::create(b, l, kb.load(kb.h0(), kb.iadd(kb.state(), kb.iadd(kb.imul(d, Vn), col))));
      b.setInsertionPointToStart(ld.elseBlock());
      scf::YieldOp::create(b, l, fzero);
    }
    kb.store(ld.getResult(0), S.mem, {d, j});
    kb.store(toF16(ld.getResult(0)), Sh.mem, {d, j});
  });
  barrier();
}

void Chunked::storeStateTile(Mat S, Value v0, int64_t VT) {
  Value Vn = kb.idx(V);
  strided(K * VT, [&](Value e) {
    Value d = arith::DivUIOp::create(b, l, e, kb.idx(VT)), j = arith::RemUIOp::create(b, l, e, kb.idx(VT));
    Value col = kb.iadd(v0, j);
    auto st = scf::IfOp::create(b, l, lt(col, Vn), false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(st.thenBlock());
    kb.store(kb.load(S.mem, {d, j}), kb.ht(), kb.iadd(kb.state(), kb.iadd(kb.imul(d, Vn), col)));
  });
}

SmallVector<Chunked::OwnTile> Chunked::ownStateTiles(int64_t VT, int64_t shift, int64_t strip) {
  assert(VT % (16 * strip) == 0 && "whole strips");
  const int64_t tilesN = VT / (16 * strip), tiles = (K / 16) * tilesN, owned = (tiles + kWarps - 1) / kWarps;
  Value w = shift % kWarps ? rem(kb.iadd(warp, kb.idx(shift % kWarps)), kWarps) : warp;
  SmallVector<OwnTile> own;
  for (int64_t m = 0; m < owned; ++m) {
    Value t = kb.iadd(w, kb.idx(kWarps * m));
    Value tc = tiles % kWarps ? rem(t, tiles) : t;
    Value ti = kb.imul(div(tc, tilesN), kb.idx(16)), tj = kb.imul(rem(tc, tilesN), kb.idx(16 * strip));
    Value mine = lt(t, kb.idx(tiles));
    for (int64_t s = 0; s < strip; ++s)
      own.push_back({ti, s ? kb.iadd(tj, kb.idx(16 * s)) : tj, mine});
  }
  return own;
}

SmallVector<Value> Chunked::loadStateRegisters(const Lane &ln, ArrayRef<OwnTile> own, Value v0) {
  auto c2 = VectorType::get({2, 2}, f32);
  Value Vn = kb.idx(V), fzero = kb.f32(0);
  Value use = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, kb.useH0(), kb.idx(0));
  SmallVector<Value> S;
  for (const OwnTile &o : own)
    for (int64_t h = 0; h < 2; ++h) {
      SmallVector<Value> e;
      for (int64_t r = 0; r < 2; ++r)
        for (int64_t c = 0; c < 2; ++c) {
          Value d = kb.iadd(o.ti, kb.iadd(ln.g, kb.idx(8 * r)));
          Value col = kb.iadd(v0, kb.iadd(o.tj, kb.iadd(ln.t2, kb.idx(8 * h + c))));
          auto ld = scf::IfOp::create(b, l, TypeRange{f32}, arith::AndIOp::create(b, l, use, lt(col, Vn)), true);
          OpBuilder::InsertionGuard g(b);
          b.setInsertionPointToStart(ld.thenBlock());
          scf::YieldOp::create(b, l, kb.load(kb.h0(), kb.iadd(kb.state(), kb.iadd(kb.imul(d, Vn), col))));
          b.setInsertionPointToStart(ld.elseBlock());
          scf::YieldOp::create(b, l, fzero);
          e.push_back(ld.getResult(0));
        }
      S.push_back(vector::FromElementsOp::create(b, l, c2, e));
    }
  return S;
}

void Chunked::storeStateRegisters(const Lane &ln, ArrayRef<OwnTile> own, ArrayRef<Value> S, Value v0) {
  Value Vn = kb.idx(V);
  for (size_t m = 0; m < own.size(); ++m)
    when(own[m].mine, [&] {
      forEachElement(ln, {S[2 * m], S[2 * m + 1]}, own[m].ti, own[m].tj, [&](Value d, Value j, Value x) {
        Value col = kb.iadd(v0, j);
        when(lt(col, Vn), [&] { kb.store(x, kb.ht(), kb.iadd(kb.state(), kb.iadd(kb.imul(d, Vn), col))); });
      });
    });
}

void Chunked::storeOutputs(Mat QS, Value c0, Value n, Value v0, int64_t VT, Value scale, Value vi, Value vj0,
                           int64_t threads) {
  const int64_t C = kChunk, ioBytes = kb.ioType().getIntOrFloatBitWidth() / 8, per = C * VT / threads;
  assert((V % 16 == 0 || threads == kThreads) && "a part of the block stores whole vectors only");
  const int64_t unit = std::min<int64_t>(per, 16 / ioBytes);
  Value Vn = kb.idx(V);
  if (V % 16 == 0) {
    Value i = vi, j0 = vj0;
    Value live = arith::AndIOp::create(b, l, lt(i, n), lt(kb.iadd(v0, j0), Vn));
    auto st = scf::IfOp::create(b, l, live, false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(st.thenBlock());
    Value row = kb.tokenRow(kb.iadd(c0, i));
    for (int64_t m = 0; m < per; m += unit) {
      SmallVector<Value> xs;
      for (int64_t u = 0; u < unit; ++u)
        xs.push_back(kb.mul(scale, kb.load(QS.mem, {i, kb.iadd(j0, kb.idx(m + u))})));
      Value vec = vector::FromElementsOp::create(b, l, VectorType::get({unit}, f32), xs);
      if (!kb.ioType().isF32())
        vec = arith::TruncFOp::create(b, l, VectorType::get({unit}, kb.ioType()), vec);
      vector::StoreOp::create(b, l, vec, kb.o(), ValueRange{kb.iadd(kb.imul(row, Vn), kb.iadd(v0, kb.iadd(j0, kb.idx(m))))},
                              false, llvm::MaybeAlign(unit * ioBytes));
    }
  } else {
    strided(C * VT, [&](Value e) {
      Value i = arith::DivUIOp::create(b, l, e, kb.idx(VT)), j = arith::RemUIOp::create(b, l, e, kb.idx(VT));
      Value live = arith::AndIOp::create(b, l, lt(i, n), lt(kb.iadd(v0, j), Vn));
      auto st = scf::IfOp::create(b, l, live, false);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(st.thenBlock());
      Value row = kb.tokenRow(kb.iadd(c0, i));
      kb.storeIO(kb.mul(scale, kb.load(QS.mem, {i, j})), kb.o(), kb.iadd(kb.imul(row, Vn), kb.iadd(v0, j)));
    });
  }
}

Chunked::PairEpilogue Chunked::outputPairs(Value c0, Value n, Value v0, Value scale) {
  return [this, c0, n, v0, scale](Value i, Value j, Value x0, Value x1) {
    Type io = kb.ioType();
    Value Vn = kb.idx(V);
    Value col = kb.iadd(v0, j);
    when(arith::AndIOp::create(b, l, lt(i, n), lt(col, Vn)), [&] {
      Value vec = vector::FromElementsOp::create(b, l, VectorType::get({2}, f32), ValueRange{kb.mul(scale, x0), kb.mul(scale, x1)});
      if (!io.isF32())
        vec = arith::TruncFOp::create(b, l, VectorType::get({2}, io), vec);
      vector::StoreOp::create(b, l, vec, kb.o(), ValueRange{kb.iadd(kb.imul(kb.tokenRow(kb.iadd(c0, i)), Vn), col)},
                              false, llvm::MaybeAlign(2 * io.getIntOrFloatBitWidth() / 8));
    });
  };
}

Chunked::TileEpilogue Chunked::outputTiles(Value c0, Value n, Value v0, Value scale, Mat stage, int64_t N) {
  return [this, c0, n, v0, scale, stage, N](Value oi, Value tj, const Acc &acc) {
    Type io = kb.ioType();
    assert(io.getIntOrFloatBitWidth() == 16 && V % 8 == 0 && "16-byte pieces of b16 rows");
    Lane ln = lane();
    Value slot = kb.imul(kb.iadd(kb.imul(div(oi, 16), kb.idx(N / 16)), div(tj, 16)), kb.idx(256));
    // Element (i, j) of the tile at slot + 16 i + 8 (j / 8 xor (i / 4) mod 2)
    // + j mod 8: the pairs one store of the warp writes, and the 16-byte
    // pieces a quarter warp reads back, fall in different banks.
    auto at = [&](Value i, Value half) {
      Value swapped = arith::XOrIOp::create(b, l, half, rem(div(i, 4), 2));
      return kb.iadd(slot, kb.iadd(kb.imul(i, kb.idx(16)), kb.imul(swapped, kb.idx(8))));
    };
    auto f2 = VectorType::get({2}, f32), io2 = VectorType::get({2}, io);
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t r = 0; r < 2; ++r) {
        SmallVector<Value> xs;
        for (int64_t c = 0; c < 2; ++c)
          xs.push_back(kb.mul(scale, vector::ExtractOp::create(b, l, acc[h], ArrayRef<int64_t>{r, c})));
        Value pair = arith::TruncFOp::create(b, l, io2, vector::FromElementsOp::create(b, l, f2, xs));
        Value i = kb.iadd(ln.g, kb.idx(8 * r));
        vector::StoreOp::create(b, l, pair, stage.mem, ValueRange{kb.iadd(at(i, kb.idx(h)), ln.t2)}, false,
                                llvm::MaybeAlign(4));
      }
    syncWarp();
    Value i = div(ln.lane, 2), half = rem(ln.lane, 2);
    Value vec = vector::LoadOp::create(b, l, VectorType::get({8}, io), stage.mem, ValueRange{at(i, half)}, false,
                                       llvm::MaybeAlign(16));
    Value col = kb.iadd(v0, kb.iadd(tj, kb.imul(half, kb.idx(8))));
    Value row = kb.iadd(oi, i);
    when(arith::AndIOp::create(b, l, lt(row, n), lt(col, kb.idx(V))), [&] {
      Value at = kb.iadd(kb.imul(kb.tokenRow(kb.iadd(c0, row)), kb.idx(V)), col);
      vector::StoreOp::create(b, l, vec, kb.o(), ValueRange{at}, false, llvm::MaybeAlign(16));
    });
  };
}

Value Chunked::shuffleXor(Value x, int32_t offset) {
  return gpu::ShuffleOp::create(b, l, x, offset, 32, gpu::ShuffleMode::XOR).getShuffleResult();
}
Value Chunked::toF16(Value x) { return arith::TruncFOp::create(b, l, f16, x); }
Value Chunked::select(Value c, Value x, Value y) { return arith::SelectOp::create(b, l, c, x, y); }
Value Chunked::lt(Value x, Value y) { return arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, x, y); }
Value Chunked::le(Value x, Value y) { return arith::CmpIOp::create(b, l, arith::CmpIPredicate::ule, x, y); }
Value Chunked::eq(Value x, Value y) { return arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, x, y); }
Value Chunked::div(Value x, int64_t y) { return arith::DivUIOp::create(b, l, x, kb.idx(y)); }
Value Chunked::rem(Value x, int64_t y) { return arith::RemUIOp::create(b, l, x, kb.idx(y)); }

} // namespace deltac
