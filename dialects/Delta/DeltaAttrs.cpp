//===- DeltaAttrs.cpp - attributes of the delta dialect -------------------===//
#include "Delta/DeltaDialect.h"

#include "deltac/Integrators/Methods.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace deltac::delta;

#define GET_ATTRDEF_CLASSES
#include "Delta/DeltaAttrs.cpp.inc"

void DeltaDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "Delta/DeltaAttrs.cpp.inc"
      >();
}

// Entries are printed as `p` or `p/q`.
static void printRational(AsmPrinter &p, int64_t num, int64_t den) {
  p << num;
  if (den != 1)
    p << "/" << den;
}

static void printVector(AsmPrinter &p, ArrayRef<int64_t> pairs) {
  p << "[";
  for (size_t i = 0; i < pairs.size(); i += 2) {
    if (i)
      p << ", ";
    printRational(p, pairs[i], pairs[i + 1]);
  }
  p << "]";
}

static ParseResult parseRational(AsmParser &parser, SmallVectorImpl<int64_t> &out) {
  int64_t num = 0, den = 1;
  if (parser.parseInteger(num))
    return failure();
  if (succeeded(parser.parseOptionalSlash()) && parser.parseInteger(den))
    return failure();
  out.push_back(num);
  out.push_back(den);
  return success();
}

static ParseResult parseVector(AsmParser &parser, SmallVectorImpl<int64_t> &out) {
  return parser.parseCommaSeparatedList(AsmParser::Delimiter::Square,
                                        [&] { return parseRational(parser, out); });
}

Attribute IntegratorAttr::parse(AsmParser &parser, Type) {
  std::string method;
  if (parser.parseLess() || parser.parseKeywordOrString(&method))
    return {};
  SmallVector<int64_t> a, b, c;
  if (method == "tableau") {
    size_t rows = 0;
    if (parser.parseKeyword("a") || parser.parseEqual() ||
        parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
          ++rows;
          return parseVector(parser, a);
        }))
      return {};
    if (parser.parseComma() || parser.parseKeyword("b") || parser.parseEqual() ||
        parseVector(parser, b))
      return {};
    if (succeeded(parser.parseOptionalComma()) &&
        (parser.parseKeyword("c") || parser.parseEqual() || parseVector(parser, c)))
      return {};
    if (a.size() != rows * rows * 2) {
      parser.emitError(parser.getCurrentLocation(),
                       "tableau matrix a must be square");
      return {};
    }
  }
  if (parser.parseGreater())
    return {};
  return getChecked([&] { return parser.emitError(parser.getNameLoc()); },
                    parser.getContext(), method, a, b, c);
}

void IntegratorAttr::print(AsmPrinter &p) const {
  p << "<" << getMethod();
  if (isTableau()) {
    unsigned s = getNumStages();
    p << " a = [";
    for (unsigned i = 0; i < s; ++i) {
      if (i)
        p << ", ";
      printVector(p, getA().slice(2 * s * i, 2 * s));
    }
    p << "], b = ";
    printVector(p, getB());
    if (!getC().empty()) {
      p << ", c = ";
      printVector(p, getC());
    }
  }
  p << ">";
}

static LogicalResult verifyEntries(function_ref<InFlightDiagnostic()> emitError,
                                   StringRef what, ArrayRef<int64_t> pairs) {
  for (size_t i = 0; i + 1 < pairs.size(); i += 2) {
    int64_t num = pairs[i], den = pairs[i + 1];
    if (den <= 0)
      return emitError() << "tableau " << what << " entry " << i / 2
                         << " has a non-positive denominator " << den;
    if (std::gcd(num < 0 ? -num : num, den) != 1)
      return emitError() << "tableau " << what << " entry " << i / 2
                         << " is not in lowest terms (" << num << "/" << den << ")";
  }
  return success();
}

LogicalResult IntegratorAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                     StringRef method, ArrayRef<int64_t> a,
                                     ArrayRef<int64_t> b, ArrayRef<int64_t> c) {
  if (method != "tableau") {
    if (!deltac::isNamedIntegrator(method)) {
      auto diag = emitError() << "unknown integrator '" << method << "'; expected one of: ";
      llvm::interleaveComma(deltac::namedIntegrators(), diag);
      return diag << ", or tableau";
    }
    if (!a.empty() || !b.empty() || !c.empty())
      return emitError() << "integrator '" << method << "' takes no tableau";
    return success();
  }
  if (b.empty() || b.size() % 2)
    return emitError() << "tableau needs a weight vector b with at least one stage";
  size_t s = b.size() / 2;
  if (a.size() != 2 * s * s)
    return emitError() << "tableau matrix a must be " << s << " x " << s
                       << " to match the " << s << " weights in b";
  if (!c.empty() && c.size() != 2 * s)
    return emitError() << "tableau nodes c must have " << s << " entries, one per stage";
  if (failed(verifyEntries(emitError, "a", a)) || failed(verifyEntries(emitError, "b", b)) ||
      failed(verifyEntries(emitError, "c", c)))
    return failure();
  return success();
}
