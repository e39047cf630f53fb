// RUN: mixer-translate --mixer-to-cpu %s --split-input-file --verify-diagnostics | FileCheck %s
// The CPU printer from .mlir input: what it instantiates comes from the op's
// attributes and its #mixer.cpu_tile, nothing else.

// A factor decay (decay_form factor) is multiplied as it is: LogDecay false in
// both the plain loop and the kernel; lanes and reg_block from the schedule.
// CHECK-LABEL: from the mixer function @hgrn
// CHECK: scanPlain<1, 16>(p, Structure::elementwise, DiagKind::none, false, false, true, false, threads, r0_row);
// CHECK: scanRecurrent<Structure::elementwise, 1, 16, 16, 8, 2, DiagKind::none, false, false, true, false, false>(p, threads, r0_row);
func.func @hgrn(%q: tensor<?x?x2x1xf32> {mixer.name = "q"}, %v: tensor<?x?x2x16xf32> {mixer.name = "v"}, %f: tensor<?x?x2x16xf32> {mixer.name = "f"}) -> (tensor<?x?x2x16xf32>, tensor<?x2x1x16xf32>) {
  %o, %s = mixer.recurrence elementwise forward %q, %q, %v dt(%f) decay_form factor {mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 1, v_block = 16, reg_block = 2, threads = 2>} : (tensor<?x?x2x1xf32>, tensor<?x?x2x1xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>) -> (tensor<?x?x2x16xf32>, tensor<?x2x1x16xf32>)
  return %o, %s : tensor<?x?x2x16xf32>, tensor<?x2x1x16xf32>
}

// -----

// The DPLR diagonal comes from `diag`: a vector diagonal given as its log.
// CHECK-LABEL: from the mixer function @rwkv7_like
// CHECK: scanRecurrent<Structure::dplr, 8, 16, 16, 16, 1, DiagKind::vector, false, false, false, true, false>
func.func @rwkv7_like(%q: tensor<?x?x2x8xf32> {mixer.name = "q"}, %v: tensor<?x?x2x16xf32> {mixer.name = "v"}, %w: tensor<?x?x2x8xf32> {mixer.name = "w"}) -> (tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>) {
  %o, %s = mixer.recurrence dplr diag vector forward %q, %q, %v decay(%w) lowrank(%q, %q) {mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v4", lanes = 16, k = 8, v_block = 16, reg_block = 1, threads = 2>} : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>) -> (tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>)
  return %o, %s : tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>
}

// -----

// A schedule naming an instruction set the runtime does not know.
func.func @unknown_isa(%q: tensor<?x?x2x8xf32> {mixer.name = "q"}, %v: tensor<?x?x2x16xf32> {mixer.name = "v"}) -> (tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>) {
  // expected-error @+1 {{#mixer.cpu_tile: unknown CPU architecture 'avx9000'}}
  %o, %s = mixer.recurrence identity forward %q, %q, %v {mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "avx9000", lanes = 8, k = 8, v_block = 16, reg_block = 2, threads = 2>} : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x16xf32>) -> (tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>)
  return %o, %s : tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>
}

// -----

// The scaled low-rank form is turned into rows by mixer-tile, not printed.
func.func @scaled(%q: tensor<?x?x2x8xf32> {mixer.name = "q"}, %v: tensor<?x?x2x16xf32> {mixer.name = "v"}, %b: tensor<?x?x2xf32> {mixer.name = "beta"}) -> (tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>) {
  // expected-error @+1 {{the CPU kernels read whole rows of a and k: expand the scaled low-rank form in mixer-tile first}}
  %o, %s = mixer.recurrence dplr diag none forward %q, %q, %v lowrank(%b * %q) k_scale(%b) {mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 8, v_block = 16, reg_block = 2, threads = 2>} : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>) -> (tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>)
  return %o, %s : tensor<?x?x2x16xf32>, tensor<?x2x8x16xf32>
}

// -----

// A normalizer that mixer-normalizer-to-column has not split off.
func.func @unsplit(%q: tensor<?x?x2x8xf32> {mixer.name = "q"}, %v: tensor<?x?x2x16xf32> {mixer.name = "v"}) -> (tensor<?x?x2x16xf32>, tensor<?x2x8x17xf32>) {
  // expected-error @+1 {{the CPU target expects the split form}}
  %o, %s = mixer.recurrence identity forward %q, %q, %v normalizer max_abs eps 1.0 {mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 8, v_block = 16, reg_block = 2, threads = 2>} : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x16xf32>) -> (tensor<?x?x2x16xf32>, tensor<?x2x8x17xf32>)
  return %o, %s : tensor<?x?x2x16xf32>, tensor<?x2x8x17xf32>
}

// -----

// expected-error @+1 {{mixer-translate: expected a module with one func.func, found 2}}
module {
  func.func @a() { return }
  func.func @b() { return }
}

// -----

// The token row: each operand computed here is written straight into its
// field, even when another operand's chain reads it first (r = sigmoid(f) is
// the decay and a factor of v); `ones` does not compute its input; an input
// read only by the pre-processing is read in place (rowView), one that is a
// field is read into it.
// CHECK-LABEL: from the mixer function @rows
// CHECK: auto r0_row = [&](int64_t b, int64_t t, int64_t h, TokenRow<1, 16> &r) {
// CHECK-NEXT: float *[[Q:x[0-9]+]] = r.q;
// CHECK-NEXT: [[Q]][0] = 1.f;
// CHECK-NEXT: copyRow([[Q]], 1, r.k);
// CHECK-NOT: copyRow
// CHECK: = rowView(inputs[0], b, t, h,
// CHECK: float *[[DT:x[0-9]+]] = r.dt;
// CHECK: = rowView(inputs[1], b, t, h,
// CHECK: [[DT]][j] = sigmoid(x);
// CHECK: float *{{x[0-9]+}} = r.v;
// CHECK-NOT: copyRow
// CHECK: (void)b; (void)t; (void)h;
func.func @rows(%c: tensor<?x?x2x16xf32> {mixer.name = "c"}, %f: tensor<?x?x2x16xf32> {mixer.name = "f"}) -> (tensor<?x?x2x16xf32>, tensor<?x2x1x16xf32>) {
  %one = mixer.constant dense<1.000000e+00> : tensor<f32>
  %r = mixer.map sigmoid %f : tensor<?x?x2x16xf32> -> tensor<?x?x2x16xf32>
  %n = mixer.map neg %r : tensor<?x?x2x16xf32> -> tensor<?x?x2x16xf32>
  %w = mixer.binary add %one, %n : tensor<f32>, tensor<?x?x2x16xf32> -> tensor<?x?x2x16xf32>
  %v = mixer.binary mul %c, %w : tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32> -> tensor<?x?x2x16xf32>
  %q = mixer.map ones %v : tensor<?x?x2x16xf32> -> tensor<?x?x2x1xf32>
  %o, %s = mixer.recurrence elementwise forward %q, %q, %v dt(%r) decay_form factor {mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 1, v_block = 16, reg_block = 2, threads = 2>} : (tensor<?x?x2x1xf32>, tensor<?x?x2x1xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>) -> (tensor<?x?x2x16xf32>, tensor<?x2x1x16xf32>)
  return %o, %s : tensor<?x?x2x16xf32>, tensor<?x2x1x16xf32>
}
