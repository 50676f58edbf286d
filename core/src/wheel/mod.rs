//! wheel (in progress)
