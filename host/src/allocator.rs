//! The global allocator of the `algohost` binary (and of the HTTP benchmark,
//! which includes this file so that it allocates as the server does):
//! mimalloc. A request through the server, and a run, make many small,
//! short-lived allocations across threads; with glibc's allocator they
//! were a tenth of the server's CPU time, and `make bench` measured about
//! 7% more runs per second with mimalloc. Only the binary sets it: the
//! Python extension module and dylib plugins keep their own allocators
//! (frames cross between them through Arrow's release callbacks, never a
//! foreign `free`).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
