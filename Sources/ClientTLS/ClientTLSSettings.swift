/// What a client asks of TLS: the files to read, the name to verify, and how much of the peer's certificate to verify.
///
/// Each client fills it from its own public TLS settings (``MySQLConfiguration/TLS`` and the like), which stay its own.
///
/// Thread-safety: a value; `Sendable`.
public struct ClientTLSSettings: Sendable, Equatable {
    /// How much of the peer's certificate is verified.
    public enum Verification: Sendable, Hashable, CaseIterable {
        /// Nothing: encrypted, but anyone in the middle can present a certificate (MySQL's `preferred`, `required`).
        case none
        /// The chain, against ``ClientTLSSettings/caFile`` or the system's trust roots; any name is accepted.
        case chain
        /// The chain, and that the certificate names the host connected to (or ``ClientTLSSettings/serverName``).
        case chainAndName
    }

    /// PEM file of the authorities that may sign the peer's certificate; `nil`: the system's trust roots. Not read
    /// when ``verification`` is ``Verification/none``.
    public var caFile: String?
    /// PEM file of a client certificate (with its chain), sent when the peer asks for one. Needs ``keyFile``.
    public var certificateFile: String?
    /// PEM file of the private key of ``certificateFile``.
    public var keyFile: String?
    /// The DNS name to send as SNI and to verify instead of the host; `nil`: the host.
    public var serverName: String?
    /// How much of the peer's certificate is verified.
    public var verification: Verification

    /// Creates settings; by default the system's trust roots, no client certificate, the host's name, all verified.
    public init(
        caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, serverName: String? = nil,
        verification: Verification = .chainAndName
    ) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.serverName = serverName
        self.verification = verification
    }
}

/// The words a client's TLS messages use: what its peer is called and which settings a user changes, so that an error
/// names `REDIS_TLS_CA` to a Redis user and `DB_TLS_CA` to a MySQL one.
///
/// Thread-safety: a value; `Sendable`.
public struct ClientTLSWording: Sendable {
    /// A setting that chooses the ``ClientTLSSettings/Verification`` level, and the values that choose each level.
    public struct VerificationSetting: Sendable {
        /// The setting's name, e.g. `DB_TLS_MODE`.
        public var name: String
        /// The value that encrypts without verifying, e.g. `required`.
        public var none: String
        /// The value that verifies the chain only, e.g. `verify-ca`.
        public var chain: String
        /// The value that verifies the chain and the name, e.g. `verify-identity`.
        public var chainAndName: String

        /// Creates a setting's wording.
        public init(name: String, none: String, chain: String, chainAndName: String) {
            self.name = name
            self.none = none
            self.chain = chain
            self.chainAndName = chainAndName
        }

        /// `NAME=value` for `level`, e.g. `DB_TLS_MODE=verify-ca`.
        func assignment(_ level: ClientTLSSettings.Verification) -> String {
            switch level {
            case .none: "\(self.name)=\(self.none)"
            case .chain: "\(self.name)=\(self.chain)"
            case .chainAndName: "\(self.name)=\(self.chainAndName)"
            }
        }
    }

    /// What the peer is called, e.g. `server` or `broker`.
    public var peerNoun: String
    /// The setting that holds ``ClientTLSSettings/caFile``, e.g. `REDIS_TLS_CA`.
    public var caVariable: String
    /// The setting that holds ``ClientTLSSettings/certificateFile``, e.g. `REDIS_TLS_CERT`.
    public var certificateVariable: String
    /// The setting that holds ``ClientTLSSettings/keyFile``, e.g. `REDIS_TLS_KEY`.
    public var keyVariable: String
    /// How a user may have pointed TLS at a plain port, e.g. `REDIS_TLS=true against a plain port?`: a failed or
    /// unfinished handshake says the peer may not speak TLS there. `nil` where the peer announced TLS before the
    /// handshake (MySQL's handshake offers it before the client's `SSLRequest`): failures are then reported as they
    /// happened, never as a plain port.
    public var plainPortHint: String?
    /// The setting that chooses the verification level, when there is one (MySQL's `DB_TLS_MODE`): a refused
    /// certificate then names the level that refused it and the one that would not. `nil` when verification is
    /// always complete.
    public var verificationSetting: VerificationSetting?

    /// Creates a client's wording.
    public init(
        peerNoun: String, caVariable: String, certificateVariable: String, keyVariable: String,
        plainPortHint: String?, verificationSetting: VerificationSetting? = nil
    ) {
        self.peerNoun = peerNoun
        self.caVariable = caVariable
        self.certificateVariable = certificateVariable
        self.keyVariable = keyVariable
        self.plainPortHint = plainPortHint
        self.verificationSetting = verificationSetting
    }
}

/// A TLS failure in words a user can act on (which check failed, what to set), which each client turns into its own
/// error type: its `tls` code, or its `connectionClosed` code for ``Kind/connectionClosed``.
///
/// Thread-safety: a value; `Sendable`.
public struct ClientTLSError: Error, Sendable, CustomStringConvertible {
    /// Which of a client's error codes the failure maps to.
    public enum Kind: Sendable, Hashable {
        /// TLS could not protect the connection as configured, or a plain connection got a TLS answer.
        case tls
        /// The connection closed with nothing more certain to say than that: a plain connection's peer closed before
        /// its first reply (it may require TLS), or the handshake handler went away before the handshake finished.
        case connectionClosed
    }

    /// Which of a client's error codes the failure maps to.
    public var kind: Kind
    /// The explanation, naming the peer, the check that failed and the client's settings.
    public var message: String
    /// The error that caused this one, where the message explains a lower-level error (a handshake's); `nil` where
    /// the message says it all (a file that could not be read names the file and NIOSSL's error).
    public var underlying: (any Error)?

    /// Creates an error.
    public init(_ kind: Kind = .tls, message: String, underlying: (any Error)? = nil) {
        self.kind = kind
        self.message = message
        self.underlying = underlying
    }

    /// The message.
    public var description: String { self.message }
}
