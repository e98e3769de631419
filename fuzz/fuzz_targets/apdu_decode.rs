//! The APDU codec on arbitrary bytes: never panics, and whatever decodes re-encodes to a value
//! that decodes to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mynatap_sim::apdu::{CommandApdu, ResponseApdu};

fuzz_target!(|data: &[u8]| {
    if let Ok(command) = CommandApdu::decode(data) {
        let bytes = command.encode().expect("a decoded command encodes");
        assert_eq!(CommandApdu::decode(&bytes).expect("re-decodes"), command);
    }
    if let Ok(response) = ResponseApdu::decode(data) {
        assert_eq!(response.encode(), data);
    }
});
