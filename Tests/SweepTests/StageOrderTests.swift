import XCTest
import Foundation
import GRDB
@testable import Sweep
import RunModel

/// `rdd-sweep run --order seeds`: the local executor launches seed by seed, so an interrupted multi-day sweep
/// (issue 24's v2 tables) leaves whole replicates; `--order plan` (the default) keeps the spec's trial order.
final class StageOrderTests: XCTestCase {
    /// The earliest seed (by its position in the spec's seeds) of the trials that use each stage.
    func firstSeed(_ p: SweepPlan) -> [Int] {
        var seedRank: [UInt64: Int] = [:]
        for t in p.trials where seedRank[t.config.seed] == nil { seedRank[t.config.seed] = seedRank.count }
        return p.stages.map { s in s.trials.map { seedRank[p.trials[$0].config.seed]! }.min()! }
    }

    func testSeedOrderRanksWholeSeedsFirstAndKeepsInputsFirst() throws {
        let p = try SweepPlan.make(SweepSpec.parse(
            #"{"name": "o", "preset": "tiny", "base": {"replicate": "chain"}, "grid": {"distill.method": ["pd", "rdd"]}, "seeds": [2, 0, 1]}"#,
            file: "specs/o.json"))
        let seed = firstSeed(p)
        XCTAssertEqual(StageOrder.plan.ranks(p), Array(p.stages.indices))
        // In plan order the spec's last seed (1) has stages before some of its first seed's (2): the method-major
        // expansion trains every seed's chain for the first method before the second method's distillation.
        XCTAssertTrue(p.stages.indices.contains { i in seed[i] == 2 && p.stages.indices.contains { j in j > i && seed[j] == 0 } },
                      "the plan interleaves seeds (else this test shows nothing)")
        let rank = StageOrder.seeds.ranks(p)
        XCTAssertEqual(rank.sorted(), Array(p.stages.indices), "a permutation")
        let launch = p.stages.indices.sorted { rank[$0] < rank[$1] }
        XCTAssertEqual(launch.map { seed[$0] }, launch.map { seed[$0] }.sorted(), "seed 2's stages, then seed 0's, then seed 1's")
        for i in launch.indices.dropFirst() where seed[launch[i]] == seed[launch[i - 1]] {
            XCTAssertLessThan(launch[i - 1], launch[i], "plan order within a seed")
        }
        for (i, s) in p.stages.enumerated() {
            for input in s.inputs.values { XCTAssertLessThan(rank[p.position[input]!], rank[i], "\(s.displayName) after its input") }
        }
    }

    /// A real run, one worker: the stages start seed by seed; the same spec in plan order does not — and both
    /// compute the same numbers.
    func testRunLaunchesSeedBySeedWithTheSameNumbers() throws {
        let exe = try XCTUnwrap(SchedulerTests.executable, "rdd-sweep is built next to the test bundle")
        let spec = SchedulerTests.fastSpec(name: "order", methods: ["pd", "rcfd"], seeds: [0, 1], extraBase: #", "replicate": "chain""#)
        let p = try SweepPlan.make(SweepSpec.parse(spec, file: "order.json"))
        let seed = Dictionary(uniqueKeysWithValues: zip(p.stages.map { $0.identity }, firstSeed(p)))
        var numbers: [[String]] = []
        for order in [StageOrder.seeds, .plan] {
            let root = NSTemporaryDirectory() + "rdd-order-test-\(order.rawValue)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
            var o = RunOptions(root: root, workerExecutable: exe)
            o.display = .quiet
            o.jobs = 1
            o.cores = 2
            o.order = order
            let s = try Scheduler(plan: p, options: o).run()
            XCTAssertEqual(s.trialsCompleted, 4, "\(s.failures)")
            let db = try RunDatabase(readerAt: RunDatabase.path(root: root))
            let started = try db.read { try String.fetchAll($0, sql: "SELECT stage FROM attempts ORDER BY started, rowid") }
            XCTAssertEqual(started.count, p.stages.count)
            let seeds = started.map { seed[$0]! }
            if order == .seeds {
                XCTAssertEqual(seeds, seeds.sorted(), "every stage of seed 0 before seed 1's first")
            } else {
                XCTAssertNotEqual(seeds, seeds.sorted(), "plan order starts seed 1's chain before seed 0's rcfd")
            }
            numbers.append(try db.read {
                try String.fetchAll($0, sql: "SELECT stage || ' ' || metric || ' ' || quote(value) FROM evaluations ORDER BY stage, metric")
            })
        }
        XCTAssertFalse(numbers[0].isEmpty)
        XCTAssertEqual(numbers[0], numbers[1])
    }
}
