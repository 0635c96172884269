//! The web page: server-rendered pages (templates checked at compile time) and their JSON
//! API, behind a sign-in. Every request must name this server in its `Host` (against DNS
//! rebinding); a state-changing one must also come from this server's own pages (`Origin`)
//! and carry the session's CSRF token. The session cookie is `HttpOnly` and `SameSite=Strict`.

mod analytics;
mod auth;
mod automation;
mod common;
mod folder;
mod item;
mod jobs;
mod library;

pub use analytics::*;
pub use auth::*;
pub use automation::*;
pub use common::*;
pub use folder::*;
pub use item::*;
pub use jobs::*;
pub use library::*;
