"""Post-training quantization: plan (where FakeQuantize goes), collect (statistics in one pass
of the interpreter), apply (ranges, graph rewrite, bias correction)."""
