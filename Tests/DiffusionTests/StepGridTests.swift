import XCTest
@testable import Diffusion

/// Spec §1.2 (time discretisation) and §1.6 (PD index triple).
final class StepGridTests: XCTestCase {
    func testValidGrids() throws {
        for e in 0...10 {
            let t = 1 << e
            let g = try StepGrid(steps: t)
            XCTAssertEqual(g.timeScale * g.steps, 1024)
            XCTAssertEqual(try StepGrid(steps: t, timeScale: 1024 / t), g)
        }
        XCTAssertEqual(StepGrid.base.steps, 1024)
        XCTAssertEqual(StepGrid.base.timeScale, 1)
        XCTAssertEqual(try StepGrid(steps: 8).timeScale, 128)
        XCTAssertEqual(try StepGrid(steps: 1).timeScale, 1024)
    }

    func testInvalidGridsThrowNamingTheValue() {
        for t in [0, -4, 3, 6, 1000, 2048] {
            XCTAssertThrowsError(try StepGrid(steps: t)) { error in
                XCTAssertEqual(error as? ScheduleError, .invalidStepCount(t))
                XCTAssertTrue("\(error)".contains("\(t)"))
            }
        }
        XCTAssertThrowsError(try StepGrid(steps: 8, timeScale: 64)) { error in
            XCTAssertEqual(error as? ScheduleError, .inconsistentTimeScale(steps: 8, timeScale: 64))
        }
    }

    func testGridIndex() throws {
        let g = try StepGrid(steps: 8)
        XCTAssertEqual(try g.gridIndex(0), 0)
        XCTAssertEqual(try g.gridIndex(3), 384)
        XCTAssertEqual(try g.gridIndex(8), 1024)
        XCTAssertThrowsError(try g.gridIndex(9))
        XCTAssertThrowsError(try g.gridIndex(-1))
    }

    func testSamplingIndicesN1N2N8() throws {
        XCTAssertEqual(try StepGrid(steps: 1).samplingIndices(), [1024, 0])
        XCTAssertEqual(try StepGrid(steps: 2).samplingIndices(), [1024, 512, 0])
        XCTAssertEqual(try StepGrid(steps: 8).samplingIndices(),
                       [1024, 896, 768, 640, 512, 384, 256, 128, 0])
        let full = try StepGrid.base.samplingIndices()
        XCTAssertEqual(full.count, 1025)
        XCTAssertEqual(full, Array((0...1024).reversed()))
    }

    func testBaseModelStride128() throws {
        XCTAssertEqual(try StepGrid.base.samplingIndices(stride: 128),
                       [1024, 896, 768, 640, 512, 384, 256, 128, 0])
        // Independently: the official loop reversed(range(stride, T+1, stride)), then 0.
        let stride = 256, t = 1024
        var expected = Array(Swift.stride(from: stride, to: t + 1, by: stride).reversed())
        expected.append(0)
        XCTAssertEqual(try StepGrid.base.samplingIndices(stride: stride), expected)
    }

    func testStrideMustDivideT() {
        XCTAssertThrowsError(try StepGrid.base.samplingIndices(stride: 3)) { error in
            XCTAssertEqual(error as? ScheduleError, .invalidStride(stride: 3, steps: 1024))
        }
        XCTAssertThrowsError(try StepGrid.base.samplingIndices(stride: 0))
        XCTAssertThrowsError(try StepGrid(steps: 8).samplingIndices(stride: 16))
    }

    func testPDIndices() throws {
        let teacher = try StepGrid(steps: 8)      // s = 128
        XCTAssertEqual(teacher.pdTimes, [2, 4, 6, 8])
        XCTAssertEqual(try teacher.pdIndices(t: 8), PDIndices(i0: 1024, i1: 896, i2: 768))
        XCTAssertEqual(try teacher.pdIndices(t: 2), PDIndices(i0: 256, i1: 128, i2: 0))
        let base = StepGrid.base
        XCTAssertEqual(try base.pdIndices(t: 1024), PDIndices(i0: 1024, i1: 1023, i2: 1022))
        XCTAssertEqual(base.pdTimes.count, 512)
        // 2-step teacher: the only triple is (1024, 512, 0); the student is the 1-step model.
        let two = try StepGrid(steps: 2)
        XCTAssertEqual(two.pdTimes, [2])
        XCTAssertEqual(try two.pdIndices(t: 2), PDIndices(i0: 1024, i1: 512, i2: 0))
        XCTAssertEqual(try two.student(), try StepGrid(steps: 1))
        // The student's index for the same z_t: student time t/2 at scale 2s is i0.
        for t in teacher.pdTimes {
            let student = try teacher.student()
            XCTAssertEqual(try student.gridIndex(t / 2), try teacher.pdIndices(t: t).i0)
        }
    }

    func testBadPDInputs() throws {
        let teacher = try StepGrid(steps: 8)
        for t in [0, 1, 3, 10, -2] {
            XCTAssertThrowsError(try teacher.pdIndices(t: t)) { error in
                XCTAssertEqual(error as? ScheduleError, .invalidPDTime(t: t, steps: 8))
            }
        }
        let one = try StepGrid(steps: 1)
        XCTAssertEqual(one.pdTimes, [])
        XCTAssertThrowsError(try one.student()) { error in
            XCTAssertEqual(error as? ScheduleError, .cannotHalve(steps: 1))
        }
    }
}
