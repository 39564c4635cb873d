//===- KernelBuilder.cpp - shared pieces of the scan lowerings ------------===//
#include "KernelBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;

namespace deltac {

KernelBuilder::KernelBuilder(delta::RecurrenceOp rec)
    : rec(rec), b(rec), l(rec.getLoc()), kDim(rec.getKeyDim()), vDim(rec.getValueDim()),
      numInputs(rec.getInputNames().size()), io(b.getF32Type()), noGate(isUngated(rec)) {}

bool KernelBuilder::isUngated(delta::RecurrenceOp rec) {
  auto yield = llvm::cast<delta::YieldOp>(rec.getBodyBlock().getTerminator());
  return matchPattern(yield.getValues()[0], m_OneFloat());
}

Type ioStorageType(delta::RecurrenceOp rec, StringRef option) {
  Builder b(rec.getContext());
  if (option == "spec")
    return rec.getStorageType();
  if (option == "f32")
    return b.getF32Type();
  if (option == "bf16")
    return b.getBF16Type();
  if (option == "f16")
    return b.getF16Type();
  rec.emitOpError("storage type must be spec, f32, bf16 or f16, got '") << option << "'";
  return {};
}

void KernelBuilder::setCommonAttrs(llvm::StringRef kind) {
  fnOp->setAttr("delta.kernel", b.getStringAttr(kind));
  fnOp->setAttr("delta.key_dim", rec.getKeyDimAttr());
  fnOp->setAttr("delta.value_dim", rec.getValueDimAttr());
  fnOp->setAttr("delta.input_names", rec.getInputNamesAttr());
  fnOp->setAttr("delta.scale", rec.getScaleAttr());
  fnOp->setAttr("delta.key_norm", rec.getKeyNormAttr());
  fnOp->setAttr("delta.storage_type", rec.getStorageTypeAttr());
}

KernelBuilder::KernelBuilder(delta::RecurrenceOp rec, llvm::StringRef kind) : KernelBuilder(rec) {
  Type buf = MemRefType::get({ShapedType::kDynamic}, b.getF32Type());
  SmallVector<Type> args(3 + numInputs + 3, buf);
  args.append(6, b.getIndexType());
  fn = func::FuncOp::create(b, l, rec.getSymName(), b.getFunctionType(args, {}));
  fn->setAttr("llvm.emit_c_interface", UnitAttr::get(rec.getContext()));
  fnOp = fn;
  setCommonAttrs(kind);
  entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  unsigned s = 6 + numInputs;
  bosV = arg(s), lenV = arg(s + 1), headV = arg(s + 2), nheadsV = arg(s + 3);
  stateV = arg(s + 4), useH0V = arg(s + 5);
}

KernelBuilder KernelBuilder::gpu(delta::RecurrenceOp rec, llvm::StringRef kind, llvm::StringRef name,
                                 Type io, bool workspace, int64_t tiles) {
  KernelBuilder kb(rec);
  kb.contract = true;
  if (io)
    kb.io = io;
  MLIRContext *ctx = rec.getContext();
  OpBuilder &b = kb.b;
  auto module = rec->getParentOfType<ModuleOp>();
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(), UnitAttr::get(ctx));
  std::string modName = (rec.getSymName() + "_kernels").str();
  auto gmod = llvm::dyn_cast_or_null<gpu::GPUModuleOp>(SymbolTable::lookupSymbolIn(module, modName));
  if (!gmod)
    gmod = gpu::GPUModuleOp::create(b, kb.l, modName);
  b.setInsertionPointToEnd(gmod.getBody());
  Type buf = MemRefType::get({ShapedType::kDynamic}, b.getF32Type());
  Type ioBuf = MemRefType::get({ShapedType::kDynamic}, kb.io);
  SmallVector<Type> args(3 + kb.numInputs, ioBuf);
  args.append({buf, ioBuf, buf}); // h0, o, ht
  args.push_back(MemRefType::get({ShapedType::kDynamic}, b.getI64Type()));
  args.append(2, b.getIndexType());
  if (workspace) {
    args.push_back(MemRefType::get({ShapedType::kDynamic}, b.getF16Type()));
    args.append(2, b.getIndexType()); // chunk_begin, chunk_end
  }
  auto fn = gpu::GPUFuncOp::create(b, kb.l, name.empty() ? rec.getSymName() : name,
                                   b.getFunctionType(args, {}));
  fn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), UnitAttr::get(ctx));
  fn->setAttr("delta.io_type", TypeAttr::get(kb.io));
  kb.fnOp = fn;
  kb.setCommonAttrs(kind);
  kb.entry = &fn.getBody().front();
  b.setInsertionPointToStart(kb.entry);
  unsigned s = 6 + kb.numInputs;
  Value cu = kb.arg(s);
  kb.nheadsV = kb.arg(s + 1);
  kb.useH0V = kb.arg(s + 2);
  Value pair = gpu::BlockIdOp::create(b, kb.l, gpu::Dimension::x);
  if (tiles > 0) {
    kb.tileV = arith::RemUIOp::create(b, kb.l, pair, kb.idx(tiles));
    pair = arith::DivUIOp::create(b, kb.l, pair, kb.idx(tiles));
  }
  Value n = arith::DivUIOp::create(b, kb.l, pair, kb.nheadsV);
  kb.headV = arith::RemUIOp::create(b, kb.l, pair, kb.nheadsV);
  auto loadCu = [&](Value i) {
    Value v = memref::LoadOp::create(b, kb.l, cu, i);
    return arith::IndexCastOp::create(b, kb.l, b.getIndexType(), v).getResult();
  };
  kb.bosV = loadCu(n);
  kb.lenV = arith::SubIOp::create(b, kb.l, loadCu(kb.iadd(n, kb.idx(1))), kb.bosV);
  kb.stateV = kb.imul(pair, kb.idx(kb.kDim * kb.vDim));
  return kb;
}

Value KernelBuilder::idx(int64_t v) { return arith::ConstantIndexOp::create(b, l, v); }
Value KernelBuilder::f32(double v) {
  return arith::ConstantOp::create(b, l, b.getF32FloatAttr(static_cast<float>(v)));
}
arith::FastMathFlags KernelBuilder::fm() const {
  return contract ? arith::FastMathFlags::contract : arith::FastMathFlags::none;
}
Value KernelBuilder::add(Value x, Value y) { return arith::AddFOp::create(b, l, x, y, fm()); }
Value KernelBuilder::sub(Value x, Value y) { return arith::SubFOp::create(b, l, x, y, fm()); }
Value KernelBuilder::mul(Value x, Value y) { return arith::MulFOp::create(b, l, x, y, fm()); }
Value KernelBuilder::iadd(Value x, Value y) { return arith::AddIOp::create(b, l, x, y); }
Value KernelBuilder::imul(Value x, Value y) { return arith::MulIOp::create(b, l, x, y); }
Value KernelBuilder::exp(Value x) { return math::ExpOp::create(b, l, x); }
Value KernelBuilder::load(Value mem, ValueRange i) { return memref::LoadOp::create(b, l, mem, i); }
void KernelBuilder::store(Value val, Value mem, ValueRange i) {
  memref::StoreOp::create(b, l, val, mem, i);
}
Value KernelBuilder::loadIO(Value mem, ValueRange i) {
  Value x = load(mem, i);
  return x.getType().isF32() ? x : Value(arith::ExtFOp::create(b, l, b.getF32Type(), x));
}
void KernelBuilder::storeIO(Value val, Value mem, ValueRange i) {
  Type elem = llvm::cast<MemRefType>(mem.getType()).getElementType();
  store(elem.isF32() ? val : Value(arith::TruncFOp::create(b, l, elem, val)), mem, i);
}
Value KernelBuilder::scratch(ArrayRef<int64_t> shape) {
  return memref::AllocaOp::create(b, l, MemRefType::get(shape, b.getF32Type()));
}

void KernelBuilder::loop(Value lb, Value ub, int64_t step,
                         const std::function<void(Value)> &body) {
  auto forOp = scf::ForOp::create(b, l, lb, ub, idx(step));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(forOp.getBody()->getTerminator());
  body(forOp.getInductionVar());
}

SmallVector<Value> KernelBuilder::carry(Value lb, Value ub, int64_t step, ValueRange init,
                                        const std::function<SmallVector<Value>(Value, ValueRange)> &body) {
  auto forOp = scf::ForOp::create(b, l, lb, ub, idx(step), init);
  OpBuilder::InsertionGuard guard(b);
  Block *blk = forOp.getBody();
  if (!blk->empty() && blk->back().hasTrait<OpTrait::IsTerminator>())
    blk->back().erase();
  b.setInsertionPointToEnd(blk);
  scf::YieldOp::create(b, l, body(forOp.getInductionVar(), forOp.getRegionIterArgs()));
  return SmallVector<Value>(forOp.getResults());
}

Value KernelBuilder::reduce(Value lb, Value ub, Value init, const std::function<Value(Value, Value)> &body) {
  return carry(lb, ub, 1, ValueRange{init},
               [&](Value iv, ValueRange acc) { return SmallVector<Value>{body(iv, acc[0])}; })[0];
}

Value KernelBuilder::tokenRow(Value t) {
  return iadd(imul(iadd(bos(), t), nheads()), head());
}

Value KernelBuilder::loadKeyQuery(Value row, Value dst, Value qdst, Value slot) {
  Value base = imul(row, idx(kDim));
  Value lam = reduce(idx(0), idx(kDim), f32(0), [&](Value d, Value acc) {
    Value kd = loadIO(k(), iadd(base, d));
    store(kd, dst, {slot, d});
    store(loadIO(q(), iadd(base, d)), qdst, {slot, d});
    return add(acc, mul(kd, kd));
  });
  if (rec.getKeyNorm() != delta::KeyNorm::l2)
    return lam;
  // k / sqrt(||k||^2 + 1e-6), as FLA's l2norm; lam becomes ||k||^2 of the result.
  Value rs = arith::DivFOp::create(b, l, f32(1), math::SqrtOp::create(b, l, add(lam, f32(1e-6))));
  loop(idx(0), idx(kDim), 1, [&](Value d) { store(mul(load(dst, {slot, d}), rs), dst, {slot, d}); });
  return mul(lam, mul(rs, rs));
}

TokenCoefficients KernelBuilder::coefficients(Value row, Value lam, ArrayRef<Value> inputs) {
  Block &body = rec.getBodyBlock();
  Type ct = rec.getComputeType();
  auto widen = [&](Value x) -> Value {
    return ct.isF32() ? x : Value(arith::ExtFOp::create(b, l, ct, x));
  };
  IRMapping map;
  for (unsigned i = 0; i < numInputs; ++i)
    map.map(body.getArgument(i), widen(inputs.empty() ? loadIO(input(i), row) : inputs[i]));
  map.map(body.getArguments().back(), widen(lam));
  for (Operation &op : body.without_terminator()) {
    Operation *c = b.clone(op, map);
    // GPU kernels divide by the approximate reciprocal (div.approx.f32, at
    // most 2 ulp off) instead of the IEEE division's longer sequence.
    if (auto d = llvm::dyn_cast<arith::DivFOp>(c); d && contract)
      d.setFastmath(d.getFastmath() | arith::FastMathFlags::afn);
  }
  auto yield = llvm::cast<delta::YieldOp>(body.getTerminator());
  auto narrow = [&](Value x) -> Value {
    Value v = map.lookupOrDefault(x);
    return ct.isF32() ? v : Value(arith::TruncFOp::create(b, l, b.getF32Type(), v));
  };
  return {narrow(yield.getValues()[0]), narrow(yield.getValues()[1]), narrow(yield.getValues()[2])};
}

void KernelBuilder::initState(Value S) {
  Value use = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, useH0(), idx(0));
  auto ifOp = scf::IfOp::create(b, l, use, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    loop(idx(0), idx(kDim), 1, [&](Value d) {
      Value base = iadd(state(), imul(d, idx(vDim)));
      loop(idx(0), idx(vDim), 1, [&](Value j) { store(load(h0(), iadd(base, j)), S, {d, j}); });
    });
    b.setInsertionPointToStart(ifOp.elseBlock());
    Value zero = f32(0);
    loop(idx(0), idx(kDim), 1, [&](Value d) {
      loop(idx(0), idx(vDim), 1, [&](Value j) { store(zero, S, {d, j}); });
    });
  }
}

void KernelBuilder::storeState(Value S) {
  loop(idx(0), idx(kDim), 1, [&](Value d) {
    Value base = iadd(state(), imul(d, idx(vDim)));
    loop(idx(0), idx(vDim), 1, [&](Value j) { store(load(S, {d, j}), ht(), iadd(base, j)); });
  });
}

void KernelBuilder::finish(bool eraseRecurrence) {
  if (fn)
    func::ReturnOp::create(b, l);
  else
    gpu::ReturnOp::create(b, l);
  if (eraseRecurrence)
    rec.erase();
}

} // namespace deltac
