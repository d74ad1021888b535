//! The intake conversation. (Being written.)
