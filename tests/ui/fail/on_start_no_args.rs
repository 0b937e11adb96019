use realtime::on_start;

#[on_start]
async fn started() {}

fn main() {}
