fn main() -> std::process::ExitCode {
    return_large_blocks_to_the_system();
    gatehouse::cli::main()
}

/// glibc's malloc serves blocks above a threshold with mmap and unmaps them when freed, but
/// raises that threshold to the size of each such block freed; from then on every 19 MiB
/// argon2 block comes from a heap and often stays resident after the hash (measured: 24
/// sequential sign-ins took the process from 24 to 220 MiB). A fixed threshold keeps large
/// blocks on mmap, so memory goes back to the system when a hash ends. Set before any thread
/// starts; other allocators and platforms need nothing.
fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
