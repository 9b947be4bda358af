//! ferogram-mtproto 0.6.6's `EncryptedSession` (the packet layer under
//! ferogram: it encrypts requests and decrypts and checks answers, with
//! service messages left to its sender crate) against our server
//! `Connection`, packets in and out unframed. ferogram checks each of our
//! packets (msg_key, session, msg_id parity and time window, duplicates,
//! length and padding bounds); the answers inside are read with our TL.

use ferogram_mtproto::EncryptedSession;
use mtproto_core::Input;
use mtproto_core::connection::Transporting;
use mtproto_core::message::{Role, container, gzip};
use mtproto_core::tl::Deserialize;
use mtproto_core::tl::schema::{BadServerSalt, MSG_CONTAINER, RpcResult};
use std::collections::HashMap;

/// Both waves of `requests` through ferogram, answered by our server with
/// [`crate::answer`].
pub fn converse(requests: &[Vec<u8>]) -> Result<String, String> {
    let key_bytes: [u8; 256] = core::array::from_fn(|i| (i as u8).wrapping_mul(29).wrapping_add(3));
    let mut server = crate::our_server(key_bytes, Transporting::Unframed)?;
    let mut client = EncryptedSession::new(key_bytes, 0, 0);

    let mut waiting: HashMap<i64, usize> = HashMap::new();
    let mut to_send: Vec<usize> = (0..requests.len()).collect();
    let mut waves = crate::Waves::new(requests.len());
    for _round in 0..20 {
        for i in std::mem::take(&mut to_send) {
            let (mut packet, msg_id) = client.pack_body_with_msg_id(&requests[i], true);
            waiting.insert(msg_id, i);
            server.handle_input(Input::Packet(&mut packet), crate::now());
        }
        let from_server = crate::serve(&mut server)?;
        for mut packet in from_server {
            let message = client.unpack(&mut packet).map_err(|e| format!("ferogram refused our packet: {e}"))?;
            let mut bodies = vec![message.body.clone()];
            if message.body.get(..4) == Some(&MSG_CONTAINER.to_le_bytes()[..]) {
                bodies = container::unpack(&message.body, message.msg_id, Role::Server, container::MAX_MESSAGES)
                    .map_err(|e| format!("container: {e}"))?
                    .iter()
                    .map(|m| m.body.to_vec())
                    .collect();
            }
            for body in bodies {
                if let Ok(salt) = BadServerSalt::from_bytes(&body) {
                    // ferogram leaves this to its sender: take the salt, re-send.
                    client.salt = salt.new_server_salt;
                    if let Some(i) = waiting.remove(&salt.bad_msg_id) {
                        waves.resent += 1;
                        to_send.push(i);
                    }
                } else if let Ok(result) = RpcResult::from_bytes(&body) {
                    let i = waiting.remove(&result.req_msg_id).ok_or("an answer to no request")?;
                    let plain = if gzip::is_gzip(result.result) {
                        gzip::unpack(result.result, 1 << 24).map_err(|e| format!("gzip: {e}"))?
                    } else {
                        result.result.to_vec()
                    };
                    if plain != crate::answer(&requests[i]) {
                        return Err(format!("request {i}: wrong answer body"));
                    }
                    waves.answered[i] = true;
                }
            }
        }
        if let Some(outcome) = waves.after_round(&mut to_send) {
            let resent = outcome?;
            return Ok(format!(
                "unframed packets: 2 x {} requests answered ({resent} re-sent after the first bad_server_salt)",
                requests.len()
            ));
        }
    }
    Err(waves.shortfall())
}
