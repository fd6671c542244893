import CPipelineABI
import Foundation
import PipelineArrow
import Testing

@testable import PipelineCore
@testable import PipelineHost

/// Every bad-plugin case, each with a real shared library built from
/// Tests/Fixtures/plugins, loaded beside a good one: the message names the
/// file (and both versions where it is about versions), and the good
/// plugin still loads.
@Suite("Plugin loading")
struct PluginLoaderTests {
    /// Builds `good.c` plus `bad` into one directory and loads it.
    private func loadBeside(_ bad: String) throws -> (registry: PluginRegistry, badPath: String) {
        let directory = try Fixtures.emptyDirectory(bad)
        _ = try Fixtures.library("Tests/Fixtures/plugins/good.c", in: directory)
        let badPath = try Fixtures.library("Tests/Fixtures/plugins/\(bad).c", in: directory)
        let registry = PluginRegistry.load(PluginSearchPath(entries: [directory.path]))
        return (registry, badPath)
    }

    private func expectGoodStillLoads(_ registry: PluginRegistry) throws {
        let step = try registry.step("org.test.passthrough")
        #expect(step.name == "passthrough")
        #expect(registry.libraries.contains { $0.name == "org.test.good" })
    }

    @Test func goodPluginLoadsWithItsDescriptor() throws {
        let path = try Fixtures.library("Tests/Fixtures/plugins/good.c")
        let library = try PluginLibrary.load(path: path)
        #expect(library.name == "org.test.good")
        #expect(library.abiMajor == 1 && library.abiMinor == 0)
        #expect(library.steps.count == 1)
        let step = try #require(library.steps.first)
        #expect(step.id == "org.test.passthrough")
        #expect(step.kind == .step)
        #expect(step.parameterSchema.objectValue != nil)
    }

    @Test func wrongMajorNamesFileAndBothVersions() throws {
        let (registry, badPath) = try loadBeside("wrong_major")
        let problem = try #require(registry.problems.first)
        #expect(registry.problems.count == 1)
        #expect(problem.error.isIncompatibleABI)
        #expect(problem.description.contains(badPath))
        #expect(problem.description.contains("built for plugin ABI 2.0"))
        #expect(problem.description.contains("supports ABI 1.0–1.\(PIPELINE_ABI_MINOR)"))
        #expect(problem.description.contains("major"))
        try expectGoodStillLoads(registry)
    }

    @Test func tooNewMinorNamesFileAndBothVersions() throws {
        let (registry, badPath) = try loadBeside("newer_minor")
        let problem = try #require(registry.problems.first)
        #expect(problem.error.isIncompatibleABI)
        #expect(problem.description.contains(badPath))
        #expect(problem.description.contains("built for plugin ABI 1.\(PIPELINE_ABI_MINOR + 1)"))
        #expect(problem.description.contains("supports ABI 1.0–1.\(PIPELINE_ABI_MINOR)"))
        #expect(problem.description.contains("newer than the host's \(PIPELINE_ABI_MINOR)"))
        try expectGoodStillLoads(registry)
    }

    @Test func missingEntrySymbol() throws {
        let (registry, badPath) = try loadBeside("no_entry")
        let problem = try #require(registry.problems.first)
        #expect(problem.error.isMissingEntry)
        #expect(problem.description.contains(badPath))
        #expect(problem.description.contains("does not export pipeline_plugin_entry()"))
        try expectGoodStillLoads(registry)
    }

    @Test func entryReturningNullGivesThePluginsReason() throws {
        let (registry, badPath) = try loadBeside("null_entry")
        let problem = try #require(registry.problems.first)
        #expect(problem.error.isRefused)
        #expect(problem.description.contains(badPath))
        #expect(problem.description.contains("returned NULL: refusing to load: needs the frobnicator service"))
        try expectGoodStillLoads(registry)
    }

    @Test func aLibraryRefusesThroughItsOwnHostTable() throws {
        let (registry, badPath) = try loadBeside("refuse")
        let problem = try #require(registry.problems.first)
        #expect(problem.error.isRefused)
        #expect(problem.description.contains(badPath))
        #expect(problem.description.contains("refusing to load: no frobnicator on this host"))
        try expectGoodStillLoads(registry)
    }

    @Test func aStructBelowItsFrozenSizeIsMalformed() throws {
        let (registry, badPath) = try loadBeside("tiny_struct")
        let problem = try #require(registry.problems.first)
        #expect(problem.description.contains(badPath))
        #expect(problem.description.contains("struct_size is 16, ABI 1.0 needs at least 48"))
        try expectGoodStillLoads(registry)
    }

    @Test func notASharedObject() throws {
        let directory = try Fixtures.emptyDirectory("not-elf")
        _ = try Fixtures.library("Tests/Fixtures/plugins/good.c", in: directory)
        let bogus = directory.appendingPathComponent("libbogus.so")
        try Data("this is a text file, not an ELF shared object\n".utf8).write(to: bogus)
        let registry = PluginRegistry.load(PluginSearchPath(entries: [directory.path]))
        let problem = try #require(registry.problems.first)
        #expect(problem.error.isNotLoadable)
        #expect(problem.description.contains(bogus.path))
        #expect(problem.description.contains("not a loadable shared library"))
        try expectGoodStillLoads(registry)
    }

    @Test func duplicateStepIDKeepsTheFirstAndNamesBoth() throws {
        let directory = try Fixtures.emptyDirectory("dup")
        let first = try Fixtures.library("Tests/Fixtures/plugins/dup_a.c", in: directory)
        let second = try Fixtures.library("Tests/Fixtures/plugins/dup_b.c", in: directory)
        _ = try Fixtures.library("Tests/Fixtures/plugins/good.c", in: directory)
        let registry = PluginRegistry.load(PluginSearchPath(entries: [directory.path]))
        let problem = try #require(registry.problems.first)
        #expect(registry.problems.count == 1)
        #expect(problem.error.isDuplicateStep)
        #expect(problem.description.contains(second))
        #expect(problem.description.contains(first))
        #expect(problem.description.contains("org.test.duplicate"))
        #expect(try registry.step("org.test.duplicate").libraryPath == first)
        try expectGoodStillLoads(registry)
    }

    @Test func searchPathOrderFlagsThenEnvironmentThenDefaults() {
        let path = PluginSearchPath.standard(flags: ["/flag/a", "/flag/b"],
                                             environment: ["PIPELINE_PLUGIN_PATH": "/env/c::/env/d"],
                                             executable: "/opt/tool/bin/pipeline")
        #expect(Array(path.entries.prefix(4)) == ["/flag/a", "/flag/b", "/env/c", "/env/d"])
        #expect(path.entries.count == 6)
        #expect(path.entries[4].hasSuffix("/pipeline-plugins"))
        #expect(path.entries[5].hasSuffix("/lib/pipeline/plugins"))
    }

    @Test func unknownStepSuggestsTheClosestName() throws {
        let path = try Fixtures.library("Tests/Fixtures/plugins/good.c")
        let registry = PluginRegistry.load(PluginSearchPath(entries: [path]))
        #expect(throws: PluginError.self) { try registry.step("passthru") }
        do {
            _ = try registry.step("passthru")
        } catch {
            #expect(error.isNotFound)
            #expect(error.description.contains("did you mean \"passthrough\""))
        }
    }
}
