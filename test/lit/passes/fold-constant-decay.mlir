// RUN: mixc emit %examples/retnet.mixer --shape H=3,K=4,V=4 | mixer-opt --canonicalize | FileCheck %s
// RetNet's gamma_h = 1 - 2^(-5-h) folds to one constant log-decay per head:
// log(1 - 1/32) = -0.0317487, log(1 - 1/64) = -0.0157484, log(1 - 1/128) = -0.00784317.
// CHECK-NOT: mixer.head_index
// CHECK: %[[D:.*]] = mixer.constant dense<{{\[\[\[}}-0.0317486972, -0.0157483574, -0.00784317776]]]> : tensor<1x1x3xf32>
// CHECK: mixer.recurrence const_scalar forward %arg0, %arg1, %arg2 decay(%[[D]])
