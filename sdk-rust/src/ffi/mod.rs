//! The C ABI of dylib plugins. (Implementation in progress.)
