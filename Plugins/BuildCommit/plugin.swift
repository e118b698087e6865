import Foundation
import PackagePlugin

/// Embeds the git commit of the build in the target it is applied to (`BuildInfo`): before every build,
/// `/bin/sh scripts/build-commit.sh` writes `GeneratedBuildCommit` (the commit of the package directory,
/// "unknown" outside a git checkout, and whether Package.swift, Sources/ or Plugins/ differ from it).
/// A prebuild command, not a build command: it must run on every build, because a new commit changes
/// no input file the build system could watch.
@main
struct BuildCommit: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let out = context.pluginWorkDirectoryURL.appendingPathComponent("Generated")
        let package = context.package.directoryURL
        return [.prebuildCommand(displayName: "Embedding the git commit of the build",
                                 executable: URL(fileURLWithPath: "/bin/sh"),
                                 arguments: [package.appendingPathComponent("scripts/build-commit.sh").path, package.path,
                                             out.appendingPathComponent("GeneratedBuildCommit.swift").path],
                                 outputFilesDirectory: out)]
    }
}
