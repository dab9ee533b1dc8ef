//! Activations. ReLU is split asymmetrically, relevant part first; dropout is the
//! identity because CD is always evaluated in eval semantics.

use super::Decomp;

/// `β' = relu(β)`, `γ' = relu(β+γ) − relu(β)`; `γ'` may be negative.
pub fn relu(d: &Decomp) -> Decomp {
    let rel = d.rel.relu();
    let irrel = d.total().relu() - &rel;
    Decomp { rel, irrel }
}

/// Dropout in eval mode: both parts pass unchanged.
pub fn dropout(d: &Decomp) -> Decomp {
    Decomp { rel: d.rel.shallow_clone(), irrel: d.irrel.shallow_clone() }
}
