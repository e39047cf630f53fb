// RUN: mixer-opt %s --mixer-chunk --mixer-tile="schedule=chunked" --split-input-file --verify-diagnostics
// RUN: mixer-opt %s --mixer-chunk --mixer-tile="schedule=chunked fallback=true" --split-input-file | FileCheck %s
// schedule=chunked that the CPU cannot honour is an error naming why; with
// fallback (what `mixc check` runs) the recurrent schedule, the reason on the op.

// The delta rules' UT form: chunked on the CPU too, with no, a scalar or a
// per-key diagonal.
// CHECK-LABEL: func.func @delta
// CHECK-NOT: no_chunked_form
// CHECK: algorithm = chunked_ut
func.func @delta(%q: tensor<?x?x2x16xf32>, %v: tensor<?x?x2x16xf32>, %b: tensor<?x?x2xf32>) -> tensor<?x?x2x16xf32> {
  %o, %s = mixer.recurrence dplr diag none forward %q, %q, %v lowrank(%q, %q) : (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>) -> (tensor<?x?x2x16xf32>, tensor<?x2x16x16xf32>)
  return %o : tensor<?x?x2x16xf32>
}

// -----

// CHECK-LABEL: func.func @rwkv7_like
// CHECK-NOT: no_chunked_form
// CHECK: algorithm = chunked_ut
func.func @rwkv7_like(%q: tensor<?x?x2x16xf32>, %v: tensor<?x?x2x16xf32>) -> tensor<?x?x2x16xf32> {
  %o, %s = mixer.recurrence dplr diag vector forward %q, %q, %v decay(%q) lowrank(%q, %q) : (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>) -> (tensor<?x?x2x16xf32>, tensor<?x2x16x16xf32>)
  return %o : tensor<?x?x2x16xf32>
}

// -----

// The UT form scans forward only.
// CHECK-LABEL: func.func @delta_reverse
// CHECK: mixer.no_chunked_form = "a dplr recurrence (its UT form scans forward only)", mixer.schedule = #mixer.cpu_tile<algorithm = recurrent
func.func @delta_reverse(%q: tensor<?x?x2x16xf32>, %v: tensor<?x?x2x16xf32>) -> tensor<?x?x2x16xf32> {
  // expected-error @+1 {{--schedule=chunked: the CPU has no chunked form for a dplr recurrence (its UT form scans forward only); --schedule=auto or recurrent runs it (mixc check states the schedule)}}
  %o, %s = mixer.recurrence dplr diag none reverse %q, %q, %v lowrank(%q, %q) : (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>) -> (tensor<?x?x2x16xf32>, tensor<?x2x16x16xf32>)
  return %o : tensor<?x?x2x16xf32>
}

// -----

// A form the CPU has: chunked, nothing to say.
// CHECK-LABEL: func.func @ssd
// CHECK-NOT: no_chunked_form
// CHECK: algorithm = chunked_ssd
func.func @ssd(%q: tensor<?x?x2x16xf32>, %v: tensor<?x?x2x16xf32>) -> tensor<?x?x2x16xf32> {
  %o, %s = mixer.recurrence identity forward %q, %q, %v : (tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>) -> (tensor<?x?x2x16xf32>, tensor<?x2x16x16xf32>)
  return %o : tensor<?x?x2x16xf32>
}
