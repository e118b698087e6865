print("rdd-bench: benchmarks come here")
