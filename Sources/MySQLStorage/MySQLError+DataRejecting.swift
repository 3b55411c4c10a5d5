import MySQLClient
import Storage

/// `MySQLError.isDataError` (the server's data error numbers, `MySQLError.dataErrorNumbers`) is what
/// ``StoreDataError/classify(_:)`` asks.
extension MySQLError: DataRejectingError {}
