"""Settings of the ingest processes: the MQTT worker (``sourcewatch ingest``) and the HJ 212 TCP
gateway (``sourcewatch gateway``), beside the shared ones (:mod:`schemas.core.settings`)."""

from __future__ import annotations

from pydantic import Field

from schemas.core.settings import Settings

__all__ = ["IngestSettings"]


class IngestSettings(Settings):
    mqtt_shared_group: str = Field(
        "",
        description="MQTT 5 shared-subscription group; when set, workers subscribe to "
        "$share/<group>/… and split the load.",
    )
    mqtt_receive_maximum: int = Field(
        1000,
        ge=1,
        le=65535,
        description="Most unacknowledged QoS 1 messages the broker may push to one worker "
        "(MQTT 5 Receive Maximum); bounds the worker's in-flight work. The worker also stops "
        "reading while that many wait in its inbox, for brokers that push more (Mosquitto "
        "before 2.0.13; Aedes with a session's stored queue as the worker connects).",
    )
    mqtt_session_expiry_s: int = Field(
        7 * 24 * 3600,
        ge=0,
        description="How long the broker keeps the worker's session and queued messages "
        "while it is away.",
    )
    mqtt_watch_drops: bool = Field(
        True,
        description="Ingest watches the broker's dropped-message counters ($SYS: Mosquitto "
        "publish/messages/dropped, EMQX metrics/messages/dropped) and raises a system alert "
        "when they grow.",
    )
    mqtt_broker_config: str | None = Field(
        None,
        description="Path of the broker's mosquitto.conf: `sourcewatch check` reads its "
        "max_queued_messages (unset: only SOURCEWATCH_MQTT_MAX_QUEUED_MESSAGES says it).",
    )
    mqtt_max_queued_messages: int | None = Field(
        None,
        ge=0,
        description="The broker's per-session queue limit (Mosquitto max_queued_messages, EMQX "
        "mqtt.max_mqueue_len; 0: none), when its configuration file is not readable here.",
    )
    mqtt_dead_letters_per_minute: float = Field(
        60.0,
        gt=0,
        description="MQTT ingest: dead letters one topic (one MN's uplink) may leave per minute "
        "(bursts of as many); the rest are acknowledged, counted "
        "(sourcewatch_ingest_dead_letters_dropped_total) and logged, not stored.",
    )
    mqtt_dead_letters_per_minute_total: float = Field(
        600.0,
        ge=0,
        description="MQTT ingest: dead letters all topics together may leave per minute (per "
        "worker; bursts of as many), so that new topic names do not multiply the rate; 0: no "
        "total limit.",
    )
    batch_max_messages: int = Field(
        500, ge=1, description="Writer: commit after this many MQTT messages."
    )
    batch_max_delay_s: float = Field(
        0.2, gt=0, description="Writer: commit at the latest this long after the first message."
    )
    future_tolerance_s: float = Field(
        900.0,
        ge=0,
        description="A frame whose DataTime is more than this ahead of its arrival is a dead "
        "letter (reason future), so that a wrong clock cannot become an outlet's latest data.",
    )
    registry_refresh_s: float = Field(
        30.0, gt=0, description="How often the ingest worker reloads outlets (MN, PW, CRC policy)."
    )
    recall_enabled: bool = Field(
        True,
        description="History recall (反控补数): ask data loggers again, with the HJ 212 history "
        "query, for minute data that did not arrive.",
    )
    recall_after_s: float = Field(
        900.0, ge=0, description="Recall: a gap is asked for once it is this old (seconds)."
    )
    recall_window_h: float = Field(
        48.0, gt=0, description="Recall: how far back gaps are looked for (hours)."
    )
    recall_every_s: float = Field(
        60.0, gt=0, description="Recall: how often gaps are looked for and answers settled."
    )
    recall_answer_timeout_s: float = Field(
        120.0, gt=0, description="Recall: how long a logger has to answer one query (seconds)."
    )
    recall_max_tries: int = Field(
        3, ge=1, description="Recall: queries per gap before it is recorded as failed."
    )
    recall_backoff_s: float = Field(
        300.0,
        ge=0,
        description="Recall: wait before the second try (seconds), doubled for each further one.",
    )
    recall_max_in_flight: int = Field(
        10, ge=1, description="Recall: most queries awaiting answers at once (one per outlet)."
    )
    recall_max_hours: int = Field(
        24, ge=1, description="Recall: the longest interval one query asks for (hours)."
    )
    gateway_host: str = Field(
        "127.0.0.1",
        description="Address the HJ 212 TCP gateway for legacy data loggers listens on "
        "(0.0.0.0 to listen on every interface).",
    )
    gateway_port: int = Field(
        9212,
        ge=1,
        le=65535,
        description="TCP port of the HJ 212 gateway (HJ 212 defines no well-known port).",
    )
    gateway_idle_timeout_s: float = Field(
        300.0,
        gt=0,
        description="TCP gateway: a logger connection silent this long is closed.",
    )
    gateway_max_connections: int = Field(
        1000, ge=1, description="TCP gateway: most logger connections open at once."
    )
    gateway_first_frame_timeout_s: float = Field(
        60.0,
        gt=0,
        description="TCP gateway: a connection that has not sent a valid frame (registered MN, "
        "right PW) this long after it opened is closed.",
    )
    gateway_max_connections_per_ip: int = Field(
        20,
        ge=1,
        description="TCP gateway: most connections open at once from one IP address; when all "
        "connections are taken, the oldest one without a valid frame yet makes room.",
    )
    gateway_max_rejections: int = Field(
        10,
        ge=1,
        description="TCP gateway: rejected frames (wrong PW, unknown MN, bad CRC, garbage) one IP "
        "may send within SOURCEWATCH_GATEWAY_REJECTION_WINDOW_S; past them it is answered "
        "nothing and its connections are closed after SOURCEWATCH_GATEWAY_THROTTLE_DELAY_S.",
    )
    gateway_rejection_window_s: float = Field(
        600.0, gt=0, description="TCP gateway: the window rejected frames are counted over."
    )
    gateway_throttle_delay_s: float = Field(
        5.0,
        ge=0,
        description="TCP gateway: how long a throttled connection is held, answered nothing, "
        "before it is closed.",
    )
    gateway_dead_letters_per_minute: float = Field(
        60.0,
        gt=0,
        description="TCP gateway: dead letters one IP may leave per minute (bursts of as many); "
        "the rest are counted (sourcewatch_gateway_dead_letters_dropped_total) and logged.",
    )
    gateway_dead_letters_per_minute_total: float = Field(
        600.0,
        ge=0,
        description="TCP gateway: dead letters all IPs together may leave per minute (bursts of "
        "as many), so that many addresses do not multiply the rate; 0: no total limit.",
    )
