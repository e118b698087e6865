import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Report

/// The fixture directory inside the test bundle (a copy of Tests/ReportTests/Fixtures).
func fixturesDirectory() throws -> String {
    guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
        throw ReportError("the test bundle has no Fixtures directory")
    }
    return url.path
}

/// Tests/ReportTests/Fixtures in the source tree (golden files are updated there).
func sourceFixturesDirectory(_ file: String = #filePath) -> String {
    (file as NSString).deletingLastPathComponent + "/Fixtures"
}

/// The repository root (for the committed paper reference and notebooks).
func repositoryRoot(_ file: String = #filePath) -> String {
    (((file as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
}

/// The fixture export: real tiny runs (scripts/report-fixture).
func fixtureExport() throws -> RunExport { try RunExport.load(path: fixturesDirectory() + "/export.json") }

/// Compares `actual` with the golden file `name` under Fixtures/golden; with RDD_UPDATE_GOLDEN=1 it
/// rewrites the golden file in the source tree instead (then review the diff and commit it).
func assertGolden(_ actual: Data, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
    if ProcessInfo.processInfo.environment["RDD_UPDATE_GOLDEN"] == "1" {
        let path = sourceFixturesDirectory() + "/golden/" + name
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try actual.write(to: URL(fileURLWithPath: path))
        return
    }
    let path = try fixturesDirectory() + "/golden/" + name
    guard let expected = FileManager.default.contents(atPath: path) else {
        XCTFail("missing golden file \(name): run the tests once with RDD_UPDATE_GOLDEN=1", file: file, line: line)
        return
    }
    if expected != actual {
        let e = String(decoding: expected, as: UTF8.self).components(separatedBy: "\n")
        let a = String(decoding: actual, as: UTF8.self).components(separatedBy: "\n")
        let first = zip(e, a).enumerated().first { $0.element.0 != $0.element.1 }
        let where_ = first.map { "line \($0.offset + 1):\n  golden: \($0.element.0)\n  actual: \($0.element.1)" } ?? "lengths \(e.count) vs \(a.count) lines"
        XCTFail("\(name) differs from its golden file (\(where_)); if the change is intended, run with RDD_UPDATE_GOLDEN=1", file: file, line: line)
    }
}

/// Collects XML parse errors.
final class XMLCheck: NSObject, XMLParserDelegate {
    var error: Error?
    var elements: [String: Int] = [:]
    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) { error = parseError }
    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName qName: String?,
                attributes attributeDict: [String: String] = [:]) { elements[elementName, default: 0] += 1 }
}

/// Parses `data` as XML; returns the element counts (fails the test on a parse error).
@discardableResult
func assertValidXML(_ data: Data, _ what: String, file: StaticString = #filePath, line: UInt = #line) -> [String: Int] {
    let parser = XMLParser(data: data)
    let check = XMLCheck()
    parser.delegate = check
    let ok = parser.parse()
    XCTAssertTrue(ok, "\(what) is not well-formed XML: \(String(describing: check.error ?? parser.parserError))", file: file, line: line)
    return check.elements
}
