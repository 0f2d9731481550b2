//! Writing a file whole or not at all: a temporary file, renamed into place (file outboxes).

use std::path::Path;

/// Writes `bytes` as `dir/name` (creating `dir`), through `.name.partial`, so a reader never
/// sees half a file.
pub async fn write_whole(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let file = dir.join(name);
    let partial = dir.join(format!(".{name}.partial"));
    tokio::fs::write(&partial, bytes)
        .await
        .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    tokio::fs::rename(&partial, &file)
        .await
        .map_err(|e| format!("cannot write {}: {e}", file.display()))
}
