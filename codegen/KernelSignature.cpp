#include "codegen/KernelSignature.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;

namespace mixc {

bool isStateShaped(RankedTensorType t) {
  return t.getRank() >= 2 && ShapedType::isDynamic(t.getDimSize(0)) && !ShapedType::isDynamic(t.getDimSize(1));
}

std::string shapeList(RankedTensorType t, bool dynamicAsVar, const char *stateBatch) {
  std::string s = "{";
  for (auto [i, d] : llvm::enumerate(t.getShape())) {
    if (i) s += ", ";
    if (ShapedType::isDynamic(d)) s += dynamicAsVar ? (i == 0 ? (isStateShaped(t) ? stateBatch : "B") : "T") : "-1";
    else s += std::to_string(d);
  }
  return s + "}";
}

KernelSignature kernelSignature(func::FuncOp func, bool varlen, bool seqlensOnDevice) {
  KernelSignature sig;
  unsigned nin = func.getNumArguments();
  auto results = func.getBody().front().getTerminator()->getOperands();
  static const char *resultNames[] = {"o", "final_state", "final_m"};
  llvm::raw_string_ostream os(sig.checks);
  std::string inputDoc, outputDoc;
  if (varlen)
    os << "  if (num_inputs != " << nin << " && num_inputs != " << nin + 1 << ") return chk.fail(\"expected " << nin
       << " inputs (" << nin + 1 << " with cu_seqlens), got %d\", num_inputs);\n";
  else
    os << "  if (num_inputs != " << nin << ") return chk.fail(\"expected " << nin << " inputs, got %d\", num_inputs);\n";
  os << "  if (num_outputs != " << results.size() << ") return chk.fail(\"expected " << results.size()
     << " outputs, got %d\", num_outputs);\n";
  os << "  if (!inputs || !outputs) return chk.fail(\"null inputs or outputs array\");\n";
  os << "  int64_t B = -1, T = -1;\n";
  // The states' batch: B, or with cu_seqlens the number of sequences N.
  const char *stateVar = varlen ? "(cu ? N : B)" : "B";
  if (varlen) {
    os << "  const mixc_tensor *cu = num_inputs > " << nin << " && inputs[" << nin << "].data ? &inputs[" << nin
       << "] : nullptr;\n";
    if (seqlensOnDevice)
      os << "  // cu_seqlens in device memory: read back for the checks and the grid.\n"
            "  std::vector<int64_t> cuHost;\n  mixc_tensor cuOnHost;\n"
            "  [[maybe_unused]] const int64_t *seqStartDevice = cu ? static_cast<const int64_t *>(cu->data) : nullptr;\n"
            "  if (cu && !seqlensToHost(chk, *cu, stream_, cuHost, cuOnHost)) return 1;\n"
            "  if (cu) cu = &cuOnHost;\n";
    os << "  int64_t N = -1;\n  if (cu && !chk.seqlens(cu, N)) return 1;\n";
  }
  for (unsigned i = 0; i < nin; ++i) {
    auto t = cast<RankedTensorType>(func.getArgument(i).getType());
    auto nameAttr = func.getArgAttrOfType<StringAttr>(i, "mixer.name");
    std::string n = nameAttr ? nameAttr.str() : "arg" + std::to_string(i);
    bool perHead = t.getRank() >= 3 && t.getDimSize(0) == 1 && t.getDimSize(1) == 1;
    bool optional = n == "init" || n == "init_m" || n == "dfinal_state"; // absent: zeros
    sig.inputs.push_back(n);
    if (isa<IntegerType>(t.getElementType())) // a mixture of memories' route
      os << "  if (!chk.indices(&inputs[" << i << "], \"" << n << "\", " << shapeList(t, false) << ", B, T)) return 1;\n";
    else
      os << "  if (!chk.tensor(&inputs[" << i << "], \"input\", \"" << n << "\", " << shapeList(t, false) << ", "
         << (perHead ? "true" : "false") << ", " << (optional ? "true" : "false") << ", "
         << (isStateShaped(t) ? stateVar : "B") << ", T)) return 1;\n";
    inputDoc += llvm::formatv(" *   inputs[{0}]  {1,-12} {2}{3}{4}{5}\n", i, n, shapeList(t, true, varlen ? "N" : "B"),
                              isa<IntegerType>(t.getElementType()) ? " int64" : "",
                              perHead ? " (or without the leading 1, 1)" : "",
                              optional ? ", optional (NULL data: zeros)" : "")
                    .str();
  }
  for (auto [i, v] : llvm::enumerate(results)) {
    auto t = cast<RankedTensorType>(v.getType());
    // A backward names its gradients (dq, ...); a forward's results are o, final_state[, final_m].
    auto nameAttr = func.getResultAttrOfType<StringAttr>(i, "mixer.name");
    std::string n = nameAttr ? nameAttr.str() : resultNames[std::min<size_t>(i, 2)];
    bool perHead = t.getRank() >= 3 && t.getDimSize(0) == 1 && t.getDimSize(1) == 1;
    sig.outputs.push_back(n);
    os << "  if (!chk.tensor(&outputs[" << i << "], \"output\", \"" << n << "\", " << shapeList(t, false) << ", "
       << (perHead ? "true" : "false") << ", false, " << (isStateShaped(t) ? stateVar : "B") << ", T)) return 1;\n";
    outputDoc += llvm::formatv(" *   outputs[{0}] {1,-12} {2}{3}\n", i, n, shapeList(t, true, varlen ? "N" : "B"),
                               perHead ? " (or without the leading 1, 1)" : "")
                     .str();
  }
  os << "  if (B < 0 || T < 0) return chk.fail(\"no per-token input fixes the batch and time sizes\");\n";
  if (varlen) {
    os << "  if (cu && !chk.packed(cu, N, B, T)) return 1;\n";
    os << "  [[maybe_unused]] const int64_t NS = cu ? N : B;\n";
    os << "  [[maybe_unused]] const int64_t *seqStart = cu ? static_cast<const int64_t *>(cu->data) : nullptr;\n";
    if (seqlensOnDevice) // the chunked kernels size their scratch by the longest sequence
      os << "  const int64_t TS = cu ? longestSequence(seqStart, N) : T; // the longest sequence\n";
    inputDoc += llvm::formatv(" *   inputs[{0}]  {1,-12} {2}\n", nin, "cu_seqlens",
                              "{N + 1}, optional (int64; NULL: B sequences of T tokens): packed sequences, "
                              "sequence n is tokens [cu[n], cu[n + 1]) of batch row 0 (B = 1)")
                    .str();
  } else {
    os << "  [[maybe_unused]] const int64_t NS = B;\n";
  }
  sig.doc = inputDoc + outputDoc;
  return sig;
}

} // namespace mixc
