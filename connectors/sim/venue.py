"""A simulated exchange served as a real FIX acceptor: translation only."""

from __future__ import annotations

from collections.abc import Callable

from connectors.sim.exchange import MarketDataReject, Outbound, SimExchange, Snapshot
from sor_daemon.fix import codec
from sor_daemon.fix.codec import FixMessage
from sor_daemon.fix.endpoint import FixEndpoint, SessionSpec
from sor_daemon.messages import CancelReject, ExecutionReport


class SimVenue:
    def __init__(
        self,
        exchange: SimExchange,
        spec: SessionSpec,
        log_dir: str | None = None,
        on_error: Callable[[str, str, Exception], None] | None = None,
    ) -> None:
        self.exchange = exchange
        self.port = spec.port
        self.endpoint = FixEndpoint(f"sim-{exchange.name}", [spec], self, initiator=False,
                                    log_dir=log_dir, on_error=on_error)

    @property
    def name(self) -> str:
        return self.exchange.name

    async def start(self) -> None:
        await self.endpoint.start()

    async def stop(self) -> None:
        await self.endpoint.stop()

    def on_logon(self, session: str) -> None:
        pass

    def on_logout(self, session: str) -> None:
        self.exchange.drop_session(session)

    def on_message(self, session: str, message: FixMessage) -> None:
        ex = self.exchange
        match message.msg_type:
            case "D":
                out = ex.new_order(session, codec.decode_new_order(message))
            case "F":
                out = ex.cancel(session, codec.decode_cancel(message))
            case "G":
                out = ex.replace(session, codec.decode_replace(message))
            case "H":
                out = ex.status(session, codec.decode_status(message))
            case "V":
                request = codec.decode_market_data_request(message)
                if request.subscribe:
                    out = ex.subscribe(session, request.req_id, request.depth, request.symbols)
                else:
                    ex.drop_session(session)
                    out = []
            case other:
                self.endpoint.send(session, "j", codec.encode_business_reject(
                    message.get(34), other, 3, f"{self.name} does not accept MsgType {other}"))
                return
        self.send(out)

    def send(self, outbound: list[Outbound]) -> None:
        for item in outbound:
            msg = item.message
            if isinstance(msg, ExecutionReport):
                self.endpoint.send(item.session, "8", codec.encode_execution_report(msg))
            elif isinstance(msg, CancelReject):
                self.endpoint.send(item.session, "9", codec.encode_cancel_reject(msg))
            elif isinstance(msg, Snapshot):
                self.endpoint.send(item.session, "W", codec.encode_snapshot(
                    msg.req_id, msg.symbol, msg.bids, msg.asks))
            elif isinstance(msg, MarketDataReject):
                self.endpoint.send(item.session, "Y",
                                   codec.encode_market_data_reject(msg.req_id, "0", msg.text))
