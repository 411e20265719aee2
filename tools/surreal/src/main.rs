//! `surreal`: the SurrealDB server, as the upstream binary builds it.
fn main() -> std::process::ExitCode {
    surrealdb_server::init(surrealdb_server::core::CommunityComposer())
}
