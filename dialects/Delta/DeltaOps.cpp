//===- DeltaOps.cpp - operations of the delta dialect ---------------------===//
//
// Both recurrence ops print as
//
//   delta.ode @name dims(K, V) dtype(bf16) key_norm(none) scale(0.125)
//       integrator<exact> inputs(%beta: f32) lam(%lam: f32) { ... }
//
// (delta.recurrence has no integrator). The block arguments are named after
// the spec's per-token inputs, and the parser takes the input names back from
// the SSA names, so the printed form round-trips.
//
//===----------------------------------------------------------------------===//
#include "Delta/DeltaDialect.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"

#include <cctype>
#include <cmath>

using namespace mlir;
using namespace deltac::delta;

#define GET_OP_CLASSES
#include "Delta/DeltaOps.cpp.inc"

namespace {

bool isIdentifier(StringRef s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_'))
    return false;
  return llvm::all_of(s, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

/// Attributes shown in the op's own syntax, hence elided from attr-dict.
SmallVector<StringRef> elidedAttrs() {
  return {"sym_name", "key_dim", "value_dim", "storage_type", "key_norm",
          "scale", "input_names", "integrator"};
}

template <typename OpT>
void printHeader(OpT op, OpAsmPrinter &p) {
  p << " ";
  p.printSymbolName(op.getSymName());
  p << " dims(" << op.getKeyDim() << ", " << op.getValueDim() << ") dtype("
    << op.getStorageType() << ") key_norm(" << stringifyKeyNorm(op.getKeyNorm())
    << ") scale(";
  p.printFloat(llvm::APFloat(op.getScale().convertToDouble()));
  p << ")";
}

template <typename OpT>
void printBody(OpT op, OpAsmPrinter &p) {
  Block &block = op.getBody().front();
  p << " inputs(";
  llvm::interleaveComma(block.getArguments().drop_back(), p, [&](BlockArgument arg) {
    p.printRegionArgument(arg);
  });
  p << ") lam(";
  p.printRegionArgument(block.getArguments().back());
  p << ")";
  p.printOptionalAttrDictWithKeyword(op->getAttrs(), elidedAttrs());
  p << " ";
  p.printRegion(op.getBody(), /*printEntryBlockArgs=*/false);
}

ParseResult parseHeader(OpAsmParser &parser, OperationState &result) {
  Builder &b = parser.getBuilder();
  StringAttr name;
  int64_t k = 0, v = 0;
  Type dtype;
  std::string norm;
  double scale = 0;
  if (parser.parseSymbolName(name, "sym_name", result.attributes) ||
      parser.parseKeyword("dims") || parser.parseLParen() || parser.parseInteger(k) ||
      parser.parseComma() || parser.parseInteger(v) || parser.parseRParen() ||
      parser.parseKeyword("dtype") || parser.parseLParen() || parser.parseType(dtype) ||
      parser.parseRParen() || parser.parseKeyword("key_norm") || parser.parseLParen())
    return failure();
  SMLoc normLoc = parser.getCurrentLocation();
  if (parser.parseKeywordOrString(&norm) || parser.parseRParen() ||
      parser.parseKeyword("scale") || parser.parseLParen() || parser.parseFloat(scale) ||
      parser.parseRParen())
    return failure();
  std::optional<KeyNorm> kn = symbolizeKeyNorm(norm);
  if (!kn)
    return parser.emitError(normLoc, "key_norm must be 'none' or 'l2', got '") << norm << "'";
  result.addAttribute("key_dim", b.getI64IntegerAttr(k));
  result.addAttribute("value_dim", b.getI64IntegerAttr(v));
  result.addAttribute("storage_type", TypeAttr::get(dtype));
  result.addAttribute("key_norm", KeyNormAttr::get(b.getContext(), *kn));
  result.addAttribute("scale", b.getF64FloatAttr(scale));
  return success();
}

ParseResult parseBody(OpAsmParser &parser, OperationState &result) {
  SmallVector<OpAsmParser::Argument> args, lam;
  if (parser.parseKeyword("inputs") ||
      parser.parseArgumentList(args, OpAsmParser::Delimiter::Paren, /*allowType=*/true) ||
      parser.parseKeyword("lam") ||
      parser.parseArgumentList(lam, OpAsmParser::Delimiter::Paren, /*allowType=*/true))
    return failure();
  if (lam.size() != 1)
    return parser.emitError(parser.getCurrentLocation(), "expected exactly one lam argument");
  SmallVector<Attribute> names;
  for (auto &arg : args)
    names.push_back(parser.getBuilder().getStringAttr(arg.ssaName.name.drop_front()));
  result.addAttribute("input_names", parser.getBuilder().getArrayAttr(names));
  if (parser.parseOptionalAttrDictWithKeyword(result.attributes))
    return failure();
  args.push_back(lam.front());
  Region *body = result.addRegion();
  return parser.parseRegion(*body, args);
}

template <typename OpT>
LogicalResult verifyCommon(OpT op) {
  Type st = op.getStorageType();
  if (!(st.isBF16() || st.isF16() || st.isF32()))
    return op.emitOpError("storage dtype must be bf16, f16 or f32, got ") << st;
  double scale = op.getScale().convertToDouble();
  if (!std::isfinite(scale) || scale <= 0)
    return op.emitOpError("scale must be a positive finite number, got ") << scale;
  constexpr int64_t kMaxDim = 4096;
  if (op.getKeyDim() > kMaxDim || op.getValueDim() > kMaxDim)
    return op.emitOpError("dims must be at most ") << kMaxDim << ", got K = "
                                                    << op.getKeyDim() << ", V = "
                                                    << op.getValueDim();
  llvm::StringSet<> seen;
  for (Attribute a : op.getInputNames()) {
    StringRef n = llvm::cast<StringAttr>(a).getValue();
    if (!isIdentifier(n))
      return op.emitOpError("input name '") << n << "' is not an identifier";
    if (n == "lam")
      return op.emitOpError("input name 'lam' is reserved for ||k||^2");
    if (!seen.insert(n).second)
      return op.emitOpError("input '") << n << "' is declared twice";
  }
  return success();
}

template <typename OpT>
LogicalResult verifyBody(OpT op, ArrayRef<StringRef> yieldNames) {
  Block &block = op.getBody().front();
  size_t numInputs = op.getInputNames().size();
  if (block.getNumArguments() != numInputs + 1)
    return op.emitOpError("body must take ") << numInputs
           << " input argument(s) and lam, got " << block.getNumArguments()
           << " block argument(s)";
  Type ct = block.getArguments().back().getType();
  if (!(ct.isF32() || ct.isF64()))
    return op.emitOpError("coefficients must be computed in f32 or f64, got ") << ct;
  for (BlockArgument arg : block.getArguments())
    if (arg.getType() != ct)
      return op.emitOpError("all body arguments must have the compute type ")
             << ct << ", argument #" << arg.getArgNumber() << " has " << arg.getType();
  auto yield = llvm::dyn_cast<YieldOp>(block.getTerminator());
  if (!yield)
    return op.emitOpError("body must end with delta.yield");
  if (yield.getValues().size() != yieldNames.size()) {
    auto diag = op.emitOpError("body must yield ") << yieldNames.size() << " values (";
    llvm::interleaveComma(yieldNames, diag);
    return diag << "), got " << yield.getValues().size();
  }
  for (auto [i, v] : llvm::enumerate(yield.getValues()))
    if (v.getType() != ct)
      return yield.emitOpError("value '") << yieldNames[i] << "' must have the compute type "
                                          << ct << ", got " << v.getType();
  return success();
}

template <typename OpT>
void nameArgs(OpT op, Region &region, OpAsmSetValueNameFn setName) {
  if (&region != &op.getBody() || region.empty())
    return;
  Block &block = region.front();
  ArrayAttr names = op.getInputNames();
  for (auto [i, arg] : llvm::enumerate(block.getArguments())) {
    if (i < names.size())
      setName(arg, llvm::cast<StringAttr>(names[i]).getValue());
    else
      setName(arg, "lam");
  }
}

} // namespace

//===----------------------------------------------------------------------===//
// OdeOp
//===----------------------------------------------------------------------===//

void OdeOp::print(OpAsmPrinter &p) {
  printHeader(*this, p);
  p << " integrator";
  getIntegrator().print(p);
  printBody(*this, p);
}

ParseResult OdeOp::parse(OpAsmParser &parser, OperationState &result) {
  if (parseHeader(parser, result) || parser.parseKeyword("integrator"))
    return failure();
  Attribute integrator = IntegratorAttr::parse(parser, Type());
  if (!integrator)
    return failure();
  result.addAttribute("integrator", integrator);
  return parseBody(parser, result);
}

LogicalResult OdeOp::verify() { return verifyCommon(*this); }
LogicalResult OdeOp::verifyRegions() {
  return verifyBody(*this, {"h", "gam", "c", "d"});
}
void OdeOp::getAsmBlockArgumentNames(Region &region, OpAsmSetValueNameFn setName) {
  nameArgs(*this, region, setName);
}

//===----------------------------------------------------------------------===//
// RecurrenceOp
//===----------------------------------------------------------------------===//

void RecurrenceOp::print(OpAsmPrinter &p) {
  printHeader(*this, p);
  printBody(*this, p);
}

ParseResult RecurrenceOp::parse(OpAsmParser &parser, OperationState &result) {
  if (parseHeader(parser, result))
    return failure();
  return parseBody(parser, result);
}

LogicalResult RecurrenceOp::verify() { return verifyCommon(*this); }
LogicalResult RecurrenceOp::verifyRegions() {
  return verifyBody(*this, {"g", "a", "b"});
}
void RecurrenceOp::getAsmBlockArgumentNames(Region &region, OpAsmSetValueNameFn setName) {
  nameArgs(*this, region, setName);
}
