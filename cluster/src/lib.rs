//! # kairos-cluster
//!
//! Durable priority and delay queues in Redis, shared by many kairos nodes (work in
//! progress).
