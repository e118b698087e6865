import Foundation
import XCTest
import Dashboard

/// The pages in a real browser: headless Chromium (Debian's `chromium`, installed by scripts/setup.sh) loads the
/// trials page, the live view and the curves of the fixture sweep; the test reads the DOM after the inline scripts
/// ran (`--dump-dom`) and saves screenshots of the trials page and the live view under .build/dashboard-screenshots/ (CI artifacts).
final class DashboardBrowserTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func chromium() throws -> String {
        for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] where FileManager.default.isExecutableFile(atPath: p) { return p }
        throw XCTSkip("headless Chromium is not installed (scripts/setup.sh installs Debian's chromium)")
    }

    /// Runs Chromium headless on `url` with `args`; returns stdout.
    func browse(_ chrome: String, _ args: [String], _ url: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: chrome)
        // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start. A temporary profile per run.
        let profile = DashboardFixture.tempDir("chromium-profile")
        defer { try? FileManager.default.removeItem(atPath: profile) }
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--user-data-dir=\(profile)",
                       "--virtual-time-budget=4000", "--hide-scrollbars"] + args + [url]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "chromium \(args) \(url)")
        return String(decoding: data, as: UTF8.self)
    }

    func testPagesRenderInChromium() throws {
        let chrome = try chromium()
        let url = try startDashboard(try DashboardFixture.root()).url
        let base = url + "sweeps/\(DashboardFixture.sweepName)/"

        let trials = try browse(chrome, ["--dump-dom"], base + "trials")
        let rows = trials.components(separatedBy: "<a href=\"/sweeps/\(DashboardFixture.sweepName)/trials/").count - 1
        XCTAssertEqual(rows, 2, "one table row per trial in the rendered DOM")
        XCTAssertTrue(trials.contains(">student@64/fid_classifier</a></th>"), "a sortable column per metric")

        let live = try browse(chrome, ["--dump-dom"], base + "live")
        XCTAssertTrue(live.contains("<div id=\"live\">") && live.contains("stages done"), "live view rendered")
        XCTAssertTrue(live.contains("Updated "), "the polled block is in the DOM")

        let curves = try browse(chrome, ["--dump-dom"], base + "curves?trial=0&trial=1&series=loss")
        XCTAssertTrue(curves.contains("<svg") && curves.contains("<polyline"), "a curve (SVG) in the rendered page")

        let shots = Self.repo + "/.build/dashboard-screenshots"
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        for (name, page) in [("trials", "trials"), ("live", "live")] {
            let png = shots + "/\(name).png"
            try? FileManager.default.removeItem(atPath: png)
            _ = try browse(chrome, ["--screenshot=\(png)", "--window-size=1400,900"], base + page)
            let data = try XCTUnwrap(FileManager.default.contents(atPath: png), "screenshot \(png)")
            XCTAssertEqual(Array(data.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "a PNG")
        }
    }
}
