//! Regenerates `load-tests/data/quickstart-contacts.csv` and prints its counts for
//! `load-tests/data/README.md`:
//!
//! ```sh
//! cargo run -p load-tests --example write_quickstart_contacts
//! ```

use std::path::Path;

use load_tests::contacts::{write_quickstart_contacts, QUICKSTART_ROWS, QUICKSTART_SEED};

fn main() -> std::io::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/quickstart-contacts.csv");
    let summary = write_quickstart_contacts(&path, QUICKSTART_ROWS, QUICKSTART_SEED)?;
    println!("wrote {}", path.display());
    println!("{summary:#?}");
    Ok(())
}
