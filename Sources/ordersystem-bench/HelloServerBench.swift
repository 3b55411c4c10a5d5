// benchmarks/run's anchor for HTTP: a minimal Hummingbird server ("hello") under the same wrk load as the services,
// so our endpoints are compared with what Hummingbird itself sustains on this machine.
import ArgumentParser
import Hummingbird

struct HelloServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hello-server", abstract: "A minimal Hummingbird server answering GET / with \"hello\"; runs until stopped."
    )
    @Option var port = 18099

    func run() async throws {
        let router = Router()
        router.get("/") { _, _ in "hello" }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: self.port)))
        try await app.runService()
    }
}
