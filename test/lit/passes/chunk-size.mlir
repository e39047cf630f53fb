// RUN: not mixer-opt %s --mixer-chunk="chunk-size=0" 2>&1 | FileCheck %s
// CHECK: mixer-chunk: chunk-size must be in [1, 256], got 0
func.func @f() {
  return
}
