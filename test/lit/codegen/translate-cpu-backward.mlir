// RUN: mixer-translate --mixer-to-cpu %s --split-input-file --verify-diagnostics | FileCheck %s
// The CPU printer on a derived backward (mixer-derive-backward after
// mixer-tile): the adjoint of the recurrence through scanRecurrentGrad with
// the template arguments its attributes give, the pre-processing's gradients
// on whole tensors, in reverse order.

// GLA: a vector log-decay g = logsigmoid(x) / 16.
// CHECK-LABEL: from the mixer function @gla_backward
// CHECK: GradArgs r{{[0-9]+}}_g;
// CHECK: _g.scale = 5.000000e-01f;
// CHECK: scanRecurrentGrad<Structure::vector, 4, 3, DiagKind::none, false, false, true, 64>(
// CHECK: binaryVjp({{.*}}, MIXC_BINARY_VJP_BLOCK(1.f / b));
// CHECK: mapVjp({{.*}}, MIXC_MAP_VJP_BLOCK(sigmoid(-x)));
// CHECK: int mixc_gla_backward(
func.func @gla_backward(%arg0: tensor<?x?x2x4xf32> {mixer.name = "q"}, %arg1: tensor<?x?x2x4xf32> {mixer.name = "k"}, %arg2: tensor<?x?x2x3xf32> {mixer.name = "v"}, %arg3: tensor<?x?x2x4xf32> {mixer.name = "g"}, %arg4: tensor<?x2x4x3xf32> {mixer.name = "init"}, %arg5: tensor<?x?x2x3xf32> {mixer.name = "do"}, %arg6: tensor<?x2x4x3xf32> {mixer.name = "dfinal_state"}) -> (tensor<?x?x2x4xf32> {mixer.name = "dq"}, tensor<?x?x2x4xf32> {mixer.name = "dk"}, tensor<?x?x2x3xf32> {mixer.name = "dv"}, tensor<?x?x2x4xf32> {mixer.name = "dg"}, tensor<?x2x4x3xf32> {mixer.name = "dinit"}) attributes {mixer.backward_of = @gla} {
  %0 = mixer.constant dense<1.600000e+01> : tensor<f32>
  %1 = mixer.map logsigmoid %arg3 : tensor<?x?x2x4xf32> -> tensor<?x?x2x4xf32>
  %2 = mixer.binary div %1, %0 : tensor<?x?x2x4xf32>, tensor<f32> -> tensor<?x?x2x4xf32>
  %3:5 = mixer.recurrence_grad vector forward %arg0, %arg1, %arg2 decay(%2) init(%arg4) scale 5.000000e-01 d_o(%arg5) d_final(%arg6) {mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 4, v_block = 8, reg_block = 1, threads = 2>} : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x2x4x3xf32>, tensor<?x?x2x3xf32>, tensor<?x2x4x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x2x4x3xf32>)
  %4 = mixer.binary_vjp div 0 %1, %0, %3#3 : tensor<?x?x2x4xf32>, tensor<f32>, tensor<?x?x2x4xf32> -> tensor<?x?x2x4xf32>
  %5 = mixer.map_vjp logsigmoid %arg3, %1, %4 : tensor<?x?x2x4xf32> -> tensor<?x?x2x4xf32>
  return %3#0, %3#1, %3#2, %5, %3#4 : tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x2x4x3xf32>
}

// -----

// The backward's checkpoint interval is the schedule's grad_checkpoint.
// CHECK-LABEL: from the mixer function @checkpoint_backward
// CHECK: the state kept every 8 tokens
// CHECK: scanRecurrentGrad<Structure::identity, 4, 3, DiagKind::none, false, false, true, 8>(
func.func @checkpoint_backward(%q: tensor<?x?x2x4xf32> {mixer.name = "q"}, %v: tensor<?x?x2x3xf32> {mixer.name = "v"}, %do: tensor<?x?x2x3xf32> {mixer.name = "do"}) -> (tensor<?x?x2x4xf32> {mixer.name = "dq"}, tensor<?x?x2x3xf32> {mixer.name = "dv"}) attributes {mixer.backward_of = @checkpoint} {
  %g:3 = mixer.recurrence_grad identity forward %q, %q, %v d_o(%do) {mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 4, v_block = 8, reg_block = 1, threads = 2, grad_checkpoint = 8>} : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>)
  %dq = mixer.binary add %g#0, %g#1 : tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32> -> tensor<?x?x2x4xf32>
  return %dq, %g#2 : tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>
}

// -----

// Derived before mixer-tile: no schedule to print from.
func.func @untiled_backward(%q: tensor<?x?x2x4xf32> {mixer.name = "q"}, %v: tensor<?x?x2x3xf32> {mixer.name = "v"}, %do: tensor<?x?x2x3xf32> {mixer.name = "do"}) -> (tensor<?x?x2x4xf32> {mixer.name = "dq"}, tensor<?x?x2x3xf32> {mixer.name = "dv"}) attributes {mixer.backward_of = @untiled} {
  // expected-error @+1 {{has no #mixer.cpu_tile schedule: derive the backward after mixer-tile for the CPU}}
  %g:3 = mixer.recurrence_grad identity forward %q, %q, %v d_o(%do) : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>)
  return %g#0, %g#2 : tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>
}

// -----

// The scaled low-rank form (canonical, before mixer-tile expands it).
func.func @scaled_backward(%q: tensor<?x?x2x4xf32> {mixer.name = "q"}, %v: tensor<?x?x2x3xf32> {mixer.name = "v"}, %s: tensor<?x?x2xf32> {mixer.name = "s"}, %do: tensor<?x?x2x3xf32> {mixer.name = "do"}) -> (tensor<?x?x2x4xf32> {mixer.name = "dq"}, tensor<?x?x2x3xf32> {mixer.name = "dv"}) attributes {mixer.backward_of = @scaled} {
  // expected-error @+1 {{the CPU backward expects the split form with whole rows of a, b and k}}
  %g:5 = mixer.recurrence_grad dplr diag none forward %q, %q, %v lowrank(%s * %q) d_o(%do) {mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 4, v_block = 8, reg_block = 1, threads = 2>} : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>, tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>)
  return %g#0, %g#2 : tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>
}

// -----

// decayed_b (KDA's form, which only CUDA's derived backward keeps) is refused by name.
func.func @decayed_b_backward(%q: tensor<?x?x2x4xf32> {mixer.name = "q"}, %v: tensor<?x?x2x3xf32> {mixer.name = "v"}, %g: tensor<?x?x2x4xf32> {mixer.name = "g"}, %s: tensor<?x?x2xf32> {mixer.name = "s"}, %do: tensor<?x?x2x3xf32> {mixer.name = "do"}) -> (tensor<?x?x2x4xf32> {mixer.name = "dq"}, tensor<?x?x2x3xf32> {mixer.name = "dv"}) attributes {mixer.backward_of = @decayed} {
  // expected-error @+1 {{the CPU backward expects the split form with whole rows of a, b and k}}
  %r:6 = mixer.recurrence_grad dplr diag vector forward %q, %q, %v decay(%g) lowrank(%s * %q) decayed_b d_o(%do) {mixer.schedule = #mixer.cpu_tile<algorithm = recurrent, isa = "x86-64-v3", lanes = 8, k = 4, v_block = 8, reg_block = 1, threads = 2>} : (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>, tensor<?x?x2x3xf32>) -> (tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2x4xf32>, tensor<?x?x2xf32>)
  return %r#0, %r#2 : tensor<?x?x2x4xf32>, tensor<?x?x2x3xf32>
}
